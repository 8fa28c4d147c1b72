// Reading a response body with a size cap, shared by the registry clients; internal.

/** Thrown by {@linkcode readBody} when a body exceeds its cap. */
export class BodyTooLargeError extends Error {
  /** The cap in bytes. */
  readonly limit: number;

  /**
   * @param limit The cap in bytes.
   * @param declared The size announced by content-length, if that is how it was found.
   */
  constructor(limit: number, declared?: number) {
    super(
      declared === undefined
        ? `answer exceeds ${limit} bytes`
        : `answer of ${declared} bytes exceeds ${limit}`,
    );
    this.name = "BodyTooLargeError";
    this.limit = limit;
  }
}

/**
 * Reads a whole body, refusing (and cancelling) one larger than `max` bytes, whether announced by
 * content-length or found while reading.
 */
export async function readBody(response: Response, max: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(max, declared);
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(max);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

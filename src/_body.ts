// Sending a request and reading its body with a size cap, both bounded by a signal whatever the
// fetch does, shared by the registry clients; internal.
import { raceSignal } from "./_async.ts";

/** Thrown by {@linkcode readBody} when a body exceeds its cap. */
export class BodyTooLargeError extends Error {
  /** The cap in bytes. */
  readonly limit: number;
  /** The size content-length announced, if that is how it was found. */
  readonly declared: number | undefined;

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
    this.declared = declared;
  }
}

/**
 * Calls `send` (a fetch, called unbound) and settles by `init.signal` even if the fetch ignores it:
 * a response that arrives after the abort has its body cancelled.
 */
export function fetchWithin(
  send: (input: string | Request, init?: RequestInit) => Promise<Response>,
  input: string | Request,
  init: RequestInit & { signal: AbortSignal },
): Promise<Response> {
  let sent: Promise<Response>;
  try {
    sent = send(input, init);
  } catch (error) {
    return Promise.reject(error);
  }
  return raceSignal(sent, init.signal, (late) => void late.body?.cancel().catch(() => {}));
}

/**
 * Reads a whole body, refusing (and cancelling) one larger than `max` bytes, whether announced by
 * content-length or found while reading. When `signal` aborts, rejects with its reason at once and
 * cancels the body, even if the stream behind it ignores the signal.
 */
export async function readBody(response: Response, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(max, declared);
  }
  if (response.body === null) return new Uint8Array(0);
  if (signal?.aborted) {
    await response.body.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await raceSignal(reader.read(), signal);
      if (done) break;
      total += value.byteLength;
      if (total > max) throw new BodyTooLargeError(max);
      chunks.push(value);
    }
  } catch (error) {
    const cancelled = reader.cancel(signal?.aborted ? signal.reason : undefined).catch(() => {});
    // After an abort the source's cancel is not awaited: it may be as stuck as its reads.
    if (error instanceof BodyTooLargeError) await cancelled;
    throw error;
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

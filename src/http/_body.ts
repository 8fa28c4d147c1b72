// A request body that balancedFetch sends to one instance after another: held in full when it is small
// (or already in memory), streamed otherwise while its first bytes are kept, so that an attempt that
// failed before the instance read past them can be sent again. Internal.

const LATER = "The request body went on to a later attempt and is no longer held";

/**
 * The body of one balancedFetch call, shared by its attempts.
 *
 * Chunks read from the source are kept in order from `#base` on. While at most `limit` bytes have
 * been read, every chunk is kept and every attempt's stream can read them all, from its own position.
 * Once more have been read ("spilled"), only the current attempt (the owner) reads on, and drops each
 * chunk as it takes it; from the first drop on no other attempt can be made, and a stream that falls
 * behind gets an error.
 */
export class ReplayBody {
  readonly #source: ReadableStream<Uint8Array>;
  readonly #limit: number;
  /** Read everything up to `limit` before the first attempt (a body known to be small). */
  readonly #whole: boolean;
  /** Cancelled on the spill: the caller's copy of a body that is now streamed (a tee's branch). */
  readonly #release: ReadableStream<Uint8Array> | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #chunks: Uint8Array[] = [];
  /** Index in the body of `#chunks[0]`; above 0 once a chunk was dropped. */
  #base = 0;
  #read = 0;
  #done = false;
  #spilled = false;
  #failed = false;
  #bytes: Uint8Array<ArrayBuffer> | undefined;
  /** The attempt whose stream reads on after the spill; none between attempts. */
  #owner = 0;
  /** The next chunk the owner's stream takes. */
  #cursor = 0;
  #reading: Promise<void> | undefined;

  /**
   * @param source The body to send; locked on the first attempt.
   * @param limit Bytes kept for another attempt.
   * @param whole Whether to read up to `limit` before the first attempt, to send bytes if it all fits.
   * @param release What to cancel once the body no longer fits in `limit`.
   */
  constructor(
    source: ReadableStream<Uint8Array>,
    limit: number,
    whole: boolean,
    release?: ReadableStream<Uint8Array>,
  ) {
    this.#source = source;
    this.#limit = limit;
    this.#whole = whole;
    this.#release = release;
  }

  /**
   * Ends the hold of the attempt under way and says whether another attempt can send the whole body.
   * Called when an attempt failed and the call would go on.
   */
  again(): boolean {
    if (this.#base > 0 || this.#failed) return false;
    this.#owner++;
    this.#cursor = 0;
    return true;
  }

  /**
   * The body for the next attempt: the bytes when all of it is held, else a stream (the kept chunks,
   * then the rest of the source).
   */
  async take(): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
    if (this.#owner === 0 && this.#whole) {
      while (!this.#done && !this.#spilled) await this.#readOne();
    }
    if (this.#base > 0 || this.#failed) throw new TypeError(LATER);
    const id = ++this.#owner;
    this.#cursor = 0;
    if (this.#done) return this.#bytes ??= concat(this.#chunks);
    let cursor = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        cursor = await this.#pull(id, cursor, controller);
      },
      cancel: async (reason) => {
        // Nothing more can be sent once a chunk is gone: let the source go.
        if (id === this.#owner && this.#base > 0) await this.#reader?.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }

  /** Gives one chunk to the stream of attempt `id`, at `cursor`; returns its next position. */
  async #pull(id: number, cursor: number, controller: ReadableStreamDefaultController<Uint8Array>) {
    for (;;) {
      const owner = id === this.#owner;
      const i = cursor - this.#base;
      if (i < 0) {
        controller.error(new TypeError(LATER));
        return cursor;
      }
      if (i < this.#chunks.length) {
        const chunk = this.#chunks[i]!;
        cursor++;
        if (owner) this.#cursor = cursor;
        if (this.#spilled && owner) {
          // No other attempt can take it any more: drop it, and hand over this very chunk.
          this.#chunks.splice(0, i + 1);
          this.#base = cursor;
          controller.enqueue(chunk);
        } else {
          // A copy: the runtime may take over the buffer it is given, and this one is kept.
          controller.enqueue(chunk.slice());
        }
        return cursor;
      }
      if (this.#done) {
        controller.close();
        return cursor;
      }
      if (this.#spilled && !owner) {
        controller.error(new TypeError(LATER));
        return cursor;
      }
      await this.#readOne();
    }
  }

  #readOne(): Promise<void> {
    return this.#reading ??= this.#readNext().finally(() => {
      this.#reading = undefined;
    });
  }

  async #readNext(): Promise<void> {
    this.#reader ??= this.#source.getReader();
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.#reader.read();
      if (!result.done && !(result.value instanceof Uint8Array)) {
        throw new TypeError("A request body stream must yield Uint8Array chunks");
      }
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    if (result.done) {
      this.#done = true;
      return;
    }
    this.#chunks.push(result.value);
    this.#read += result.value.byteLength;
    if (!this.#spilled && this.#read > this.#limit) {
      this.#spilled = true;
      this.#release?.cancel().catch(() => {});
      // What the owner has taken is not needed any more: it alone can go on.
      const taken = this.#cursor - this.#base;
      if (taken > 0) {
        this.#chunks.splice(0, taken);
        this.#base = this.#cursor;
      }
    }
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  // A request body's chunks never sit on a SharedArrayBuffer.
  if (chunks.length === 1) return chunks[0] as Uint8Array<ArrayBuffer>;
  let size = 0;
  for (const chunk of chunks) size += chunk.byteLength;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

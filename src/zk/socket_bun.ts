/**
 * The Bun socket adapter: `Bun.connect` (callback based) turned into a pair of Web streams. Loaded
 * lazily by `detectConnect()`; Bun is reached through `globalThis` with a local declaration of the
 * members used, so this file type-checks without Bun's types.
 *
 * @module
 */
import { onAbort, type ZkConnect, type ZkSocket } from "./socket.ts";

/** The part of Bun's TCP socket this adapter uses. */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
}

/** The part of the `Bun` global this adapter uses. */
interface BunLike {
  connect(options: {
    hostname: string;
    port: number;
    socket: {
      open?(socket: BunSocket): void;
      data?(socket: BunSocket, data: Uint8Array): void;
      drain?(socket: BunSocket): void;
      close?(socket: BunSocket): void;
      error?(socket: BunSocket, error: Error): void;
      connectError?(socket: BunSocket, error: Error): void;
    };
  }): Promise<BunSocket>;
}

/**
 * Opens a TCP connection with `Bun.connect`.
 *
 * @param host Host name or address.
 * @param port TCP port.
 * @param options A signal that aborts the attempt.
 * @returns The socket.
 *
 * @example
 * ```ts
 * import { bunConnect } from "./socket_bun.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(typeof bunConnect, "function");
 * ```
 */
export const bunConnect: ZkConnect = async (host, port, options): Promise<ZkSocket> => {
  const bun = (globalThis as unknown as { Bun: BunLike }).Bun;
  options.signal?.throwIfAborted();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  // Bytes the kernel did not take yet, and the writer waiting for them to drain.
  let pending: Uint8Array | undefined;
  let drained: (() => void) | undefined;
  let failed: ((error: unknown) => void) | undefined;
  const finish = (error?: unknown) => {
    if (ended) return;
    ended = true;
    try {
      if (error === undefined) controller.close();
      else controller.error(error);
    } catch { /* the reader already cancelled */ }
    failed?.(error ?? new Error("Socket closed"));
  };
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  let detach = () => {};
  let socket: BunSocket;
  try {
    socket = await new Promise<BunSocket>((resolve, reject) => {
      detach = onAbort(options.signal, reject);
      bun.connect({
        hostname: host,
        port,
        socket: {
          data(_s, data) {
            if (!ended) controller.enqueue(new Uint8Array(data));
          },
          drain(s) {
            if (pending === undefined) return;
            const n = s.write(pending);
            pending = n < pending.byteLength ? pending.subarray(n) : undefined;
            if (pending === undefined) drained?.();
          },
          close() {
            finish();
          },
          error(_s, error) {
            finish(error);
          },
          connectError(_s, error) {
            reject(error);
          },
        },
      }).then((s) => {
        if (options.signal?.aborted) s.end();
        else resolve(s);
      }, reject);
    });
  } finally {
    detach();
  }
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (ended) throw new Error("Socket closed");
      const n = socket.write(chunk);
      if (n >= chunk.byteLength) return;
      pending = chunk.subarray(Math.max(0, n));
      return new Promise<void>((resolve, reject) => {
        drained = resolve;
        failed = reject;
      });
    },
  });
  return {
    readable,
    writable,
    close() {
      if (!ended) {
        socket.end();
        finish();
      }
      return Promise.resolve();
    },
  };
};

/**
 * The Deno socket adapter: `Deno.connect` over TCP. Loaded lazily by `detectConnect()`; it reaches
 * Deno through `globalThis` with a local declaration of the few members it uses, so it type-checks
 * without the Deno namespace (the Web-only check) and never runs outside Deno.
 *
 * @module
 */
import { onAbort, type ZkConnect, type ZkSocket } from "./socket.ts";

/** The part of `Deno.TcpConn` this adapter uses. */
interface DenoConn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  setNoDelay?(noDelay?: boolean): void;
  close(): void;
}

/** The part of the `Deno` namespace this adapter uses. */
interface DenoLike {
  connect(options: { hostname: string; port: number; transport?: "tcp"; signal?: AbortSignal }): Promise<
    DenoConn
  >;
}

/**
 * Opens a TCP connection with `Deno.connect`.
 *
 * @param host Host name or address.
 * @param port TCP port.
 * @param options A signal that aborts the attempt.
 * @returns The socket.
 *
 * @example
 * ```ts
 * import { denoConnect } from "./socket_deno.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(typeof denoConnect, "function");
 * ```
 */
export const denoConnect: ZkConnect = async (host, port, options): Promise<ZkSocket> => {
  const deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const signal = options.signal;
  signal?.throwIfAborted();
  let conn: DenoConn;
  // Deno.connect takes a signal only in newer versions; race it as well so an abort never hangs.
  let detach = () => {};
  try {
    conn = await new Promise<DenoConn>((resolve, reject) => {
      detach = onAbort(signal, reject);
      deno.connect(signal ? { hostname: host, port, transport: "tcp", signal } : { hostname: host, port })
        .then((c) => {
          if (signal?.aborted) {
            try {
              c.close();
            } catch { /* already closed */ }
            return;
          }
          resolve(c);
        }, reject);
    });
  } finally {
    detach();
  }
  try {
    conn.setNoDelay?.(true);
  } catch { /* not a TCP connection */ }
  let closed = false;
  return {
    readable: conn.readable,
    writable: conn.writable,
    close() {
      if (!closed) {
        closed = true;
        try {
          conn.close();
        } catch { /* already closed by a stream */ }
      }
      return Promise.resolve();
    },
  };
};

/**
 * The byte-stream contract the ZooKeeper client speaks through, and the lazily loaded per-runtime
 * adapters that fulfil it (Deno, Bun, Cloudflare Workers). Node and anything else pass their own.
 *
 * @module
 */

/** An open TCP connection as a pair of Web streams. */
export interface ZkSocket {
  /** Bytes from the server. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the server. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the connection; harmless when already closed. */
  close(): Promise<void>;
}

/** Options given to a {@linkcode ZkConnect} function. */
export interface ZkConnectOptions {
  /** Aborts the connection attempt (the client's connect timeout). */
  signal?: AbortSignal;
}

/**
 * Opens a TCP connection to `host:port`. It must reject (not hang) when `signal` aborts.
 *
 * @example A Node adapter (see `examples/zk_node_socket.ts`)
 * ```ts
 * import type { ZkConnect } from "./socket.ts";
 *
 * // In Node, build it on the `net` module's connect and `stream.Duplex.toWeb`.
 * const connect: ZkConnect = (_host, _port, _options) => {
 *   return Promise.reject(new Error("wire node:net here"));
 * };
 * void connect;
 * ```
 */
export type ZkConnect = (host: string, port: number, options: ZkConnectOptions) => Promise<ZkSocket>;

/**
 * Picks the socket adapter of the runtime this code runs in and loads it on first use: Deno
 * (its `connect`), Bun (its `connect`) or Cloudflare Workers (`connect` from `cloudflare:sockets`).
 * Nothing runtime-specific is imported until then, so importing the ZooKeeper module costs nothing
 * anywhere. Elsewhere (Node, browsers) there is no built-in adapter: pass `connect` to the client.
 *
 * @returns The runtime's adapter.
 * @throws {TypeError} If the runtime has no built-in adapter.
 *
 * @example
 * ```ts
 * import { detectConnect } from "./socket.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const connect = await detectConnect(); // under Deno: the adapter over Deno's connect
 * assertEquals(typeof connect, "function");
 * ```
 */
export async function detectConnect(): Promise<ZkConnect> {
  const g = globalThis as Record<string, unknown>;
  if (typeof g["Bun"] === "object" && g["Bun"] !== null) {
    return (await import("./socket_bun.ts")).bunConnect;
  }
  if (typeof g["Deno"] === "object" && g["Deno"] !== null) {
    return (await import("./socket_deno.ts")).denoConnect;
  }
  const nav = g["navigator"] as { userAgent?: unknown } | undefined;
  if (nav?.userAgent === "Cloudflare-Workers") {
    return (await import("./socket_workers.ts")).workersConnect;
  }
  throw new TypeError(
    "No built-in TCP socket for this runtime: pass a `connect` option (see examples/zk_node_socket.ts)",
  );
}

/** The part of a `cloudflare:sockets` Socket this adapter uses. */
export interface WorkersSocket {
  /** Bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles when the connection is open (or failed). */
  readonly opened: Promise<unknown>;
  /** Closes the socket. */
  close(): Promise<void>;
}

/** The signature of `connect` from `cloudflare:sockets`. */
export type WorkersConnectFunction = (
  address: { hostname: string; port: number },
  options?: { secureTransport?: "off" | "on" | "starttls"; allowHalfOpen?: boolean },
) => WorkersSocket;

/**
 * Wraps a `cloudflare:sockets` `connect` function as a {@linkcode ZkConnect}, for workers that import it
 * themselves (`import { connect } from "cloudflare:sockets"`).
 *
 * @param connect The `connect` export of `cloudflare:sockets`.
 * @returns The adapter.
 *
 * @example
 * ```ts
 * import { fromWorkersConnect } from "./socket.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // In a worker: import { connect } from "cloudflare:sockets"; new ZkClient(hosts, { connect: fromWorkersConnect(connect) })
 * const adapter = fromWorkersConnect(() => {
 *   throw new Error("not in a worker");
 * });
 * assertEquals(typeof adapter, "function");
 * ```
 */
export function fromWorkersConnect(connect: WorkersConnectFunction): ZkConnect {
  return async (host, port, options): Promise<ZkSocket> => {
    options.signal?.throwIfAborted();
    const socket = connect({ hostname: host, port }, { secureTransport: "off", allowHalfOpen: false });
    let closed = false;
    const close = () => {
      if (closed) return Promise.resolve();
      closed = true;
      return socket.close().catch(() => {});
    };
    let detach = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        detach = onAbort(options.signal, reject);
        socket.opened.then(() => resolve(), reject);
      });
    } catch (error) {
      await close();
      throw error;
    } finally {
      detach();
    }
    return { readable: socket.readable, writable: socket.writable, close };
  };
}

/** Rejects with the signal's reason when it aborts; returns a function that detaches the listener. */
export function onAbort(signal: AbortSignal | undefined, fn: (reason: unknown) => void): () => void {
  if (signal === undefined) return () => {};
  const listener = () => fn(signal.reason);
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

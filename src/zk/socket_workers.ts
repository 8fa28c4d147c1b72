/**
 * The Cloudflare Workers socket adapter: `connect()` from `cloudflare:sockets`. Loaded lazily by
 * `detectConnect()`. The module is imported with a computed specifier, so type checkers and bundlers
 * leave it to the runtime; its API is declared locally below.
 *
 * @module
 */
import { fromWorkersConnect, type WorkersConnectFunction, type ZkConnect, type ZkSocket } from "./socket.ts";

/**
 * Opens a TCP connection with `connect` from `cloudflare:sockets` (imported on first use).
 *
 * @param host Host name or address.
 * @param port TCP port.
 * @param options A signal that aborts the attempt.
 * @returns The socket.
 */
export const workersConnect: ZkConnect = async (host, port, options): Promise<ZkSocket> => {
  const specifier = ["cloudflare", "sockets"].join(":");
  const mod = await import(specifier) as { connect: WorkersConnectFunction };
  return fromWorkersConnect(mod.connect)(host, port, options);
};

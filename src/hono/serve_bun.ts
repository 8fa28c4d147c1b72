/**
 * The Bun server adapter for `serveRegistered`: `Bun.serve`, drained with `server.stop()`. Loaded
 * lazily by `detectServerAdapter()`; Bun is reached through `globalThis` with a local declaration of
 * the members used, so this file type-checks without Bun's types.
 *
 * Bun 1.4 facts this relies on: `server.stop()` stops accepting and resolves once the requests under
 * way have been answered; `server.stop(true)` drops every connection at once. The second argument of
 * the fetch handler is the server, as Hono's `getConnInfo` from `hono/bun` expects.
 *
 * @module
 */
import type { ListeningServer, ServerAdapter } from "./serve.ts";

interface BunServer {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunLike {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: unknown) => Promise<Response>;
  }): BunServer;
}

/**
 * Serves with `Bun.serve`.
 *
 * @example
 * ```ts ignore
 * import { bunServer } from "./serve_bun.ts";
 *
 * const server = await bunServer.listen(async () => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * await server.shutdown();
 * ```
 */
export const bunServer: ServerAdapter = {
  runtime: "bun",
  listen(handler, { hostname, port }): Promise<ListeningServer> {
    const bun = (globalThis as unknown as { Bun: BunLike }).Bun;
    const server = bun.serve({ hostname, port, fetch: handler });
    let stopping: Promise<void> | undefined;
    return Promise.resolve({
      hostname: server.hostname,
      port: server.port,
      shutdown: () => stopping ??= Promise.resolve(server.stop(false)),
      close: () => void server.stop(true),
    });
  },
};

/**
 * The Deno server adapter for `serveRegistered`: `Deno.serve`, drained with `server.shutdown()`.
 * Loaded lazily by `detectServerAdapter()`; Deno is reached through `globalThis` with a local
 * declaration of the few members used, so this file type-checks without the Deno namespace.
 *
 * Deno 2.9 facts this relies on: `server.shutdown()` stops accepting, closes idle keep-alive
 * connections and resolves once the requests under way have been answered; aborting the `signal`
 * given to `Deno.serve` does the same. A server whose requests outlast the shutdown timeout is left to
 * the process exit (Deno has no call that drops live connections).
 *
 * @module
 */
import type { ListeningServer, ServerAdapter } from "./serve.ts";

interface DenoServer {
  readonly addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

interface DenoLike {
  serve(
    options: { hostname: string; port: number; onListen: () => void },
    handler: (request: Request, info: unknown) => Promise<Response>,
  ): DenoServer;
}

/**
 * Serves with `Deno.serve`.
 *
 * @example
 * ```ts
 * import { denoServer } from "./serve_deno.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const server = await denoServer.listen(async () => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * assertEquals(await (await fetch(`http://127.0.0.1:${server.port}/`)).text(), "hi");
 * await server.shutdown();
 * ```
 */
export const denoServer: ServerAdapter = {
  runtime: "deno",
  listen(handler, { hostname, port }): Promise<ListeningServer> {
    const deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
    // onListen: the default one prints "Listening on ..." to the console.
    const server = deno.serve({ hostname, port, onListen() {} }, handler);
    let stopping: Promise<void> | undefined;
    return Promise.resolve({
      hostname: server.addr.hostname,
      port: server.addr.port,
      shutdown: () => stopping ??= server.shutdown(),
      close() {
        // Nothing drops live connections in Deno's API; the exit that follows does.
        void (stopping ??= server.shutdown());
      },
    });
  },
};

/**
 * The Node.js server adapter for `serveRegistered`: `node:http`, with each request turned into a Web
 * `Request` (body streamed, aborted when the client goes away) and the app's `Response` streamed back
 * with backpressure. Loaded lazily by `detectServerAdapter()`. `node:http` is imported with a computed
 * specifier, so type checkers and browser bundles leave it to the runtime; the few members used are
 * declared below.
 *
 * Node 20 facts this relies on: `server.close()` stops accepting, closes idle keep-alive connections
 * and calls back once every connection has closed; a keep-alive connection that answers its last
 * request after that is idle again, so it is closed after each answer while draining;
 * `closeAllConnections()` drops the rest at the timeout. A `Request` with a stream body needs
 * `duplex: "half"`.
 *
 * @module
 */
import type { ListeningServer, ServerAdapter } from "./serve.ts";

interface Incoming {
  readonly method?: string;
  readonly url?: string;
  readonly rawHeaders: string[];
  readonly headers: { host?: string };
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
}

interface Outgoing {
  statusCode: number;
  statusMessage: string;
  readonly writableEnded: boolean;
  readonly headersSent: boolean;
  setHeader(name: string, value: string | string[]): unknown;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  on(event: "close" | "finish", listener: () => void): unknown;
  destroy(error?: Error): unknown;
}

interface NodeHttpServer {
  listen(port: number, hostname: string, callback: () => void): unknown;
  once(event: "error", listener: (error: Error) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
  address(): { address: string; port: number } | string | null;
  close(callback: (error?: Error) => void): unknown;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

interface NodeHttp {
  createServer(listener: (incoming: Incoming, outgoing: Outgoing) => void): NodeHttpServer;
}

const NO_BODY = new Set(["GET", "HEAD"]);

/** The incoming request as a Web Request; its signal aborts when the client goes away. */
function toRequest(incoming: Incoming, outgoing: Outgoing, fallbackHost: string): Request {
  const method = incoming.method ?? "GET";
  const url = new URL(incoming.url ?? "/", `http://${incoming.headers.host || fallbackHost}`);
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const controller = new AbortController();
  outgoing.on("close", () => {
    if (!outgoing.writableEnded) controller.abort(new DOMException("The client went away", "AbortError"));
  });
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal };
  if (!NO_BODY.has(method)) {
    init.body = new ReadableStream<Uint8Array>({
      start(stream) {
        incoming.on("data", (chunk) => {
          stream.enqueue(new Uint8Array(chunk));
          if ((stream.desiredSize ?? 0) <= 0) incoming.pause();
        });
        incoming.on("end", () => stream.close());
        incoming.on("error", (error) => stream.error(error));
      },
      pull: () => void incoming.resume(),
      cancel: () => void incoming.destroy(),
    });
    init.duplex = "half";
  }
  return new Request(url, init);
}

/** Writes the Web Response to Node's response, streaming the body with backpressure. */
async function send(response: Response, outgoing: Outgoing, head: boolean): Promise<void> {
  outgoing.statusCode = response.status;
  if (response.statusText) outgoing.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie();
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") outgoing.setHeader(name, value);
  }
  if (cookies.length > 0) outgoing.setHeader("set-cookie", cookies);
  if (!response.body || head) {
    await response.body?.cancel();
    outgoing.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  outgoing.once("close", () => {
    gone = true;
    void reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (!outgoing.write(value)) {
        await new Promise<void>((resolve) => {
          outgoing.once("drain", resolve);
          outgoing.once("close", resolve);
        });
      }
    }
    if (!gone) outgoing.end();
  } catch (error) {
    // The body failed half way: the client must see a broken answer, not a short complete one.
    outgoing.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * Serves with `node:http` (imported on first use).
 *
 * @example
 * ```ts ignore
 * import { nodeServer } from "./serve_node.ts";
 *
 * const server = await nodeServer.listen(async () => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * await server.shutdown();
 * ```
 */
export const nodeServer: ServerAdapter = {
  runtime: "node",
  async listen(handler, { hostname, port }): Promise<ListeningServer> {
    const specifier = ["node", "http"].join(":");
    const http = await import(specifier) as NodeHttp;
    let draining = false;
    let fallbackHost = `${hostname}:${port}`;
    const server = http.createServer((incoming, outgoing) => {
      if (draining) outgoing.setHeader("connection", "close");
      outgoing.on("finish", () => {
        if (draining) server.closeIdleConnections();
      });
      let request: Request;
      try {
        request = toRequest(incoming, outgoing, fallbackHost);
      } catch {
        outgoing.statusCode = 400;
        outgoing.end();
        return;
      }
      void handler(request, { incoming, outgoing })
        .then((response) => send(response, outgoing, request.method === "HEAD"))
        .catch((error) => {
          if (!outgoing.headersSent) {
            outgoing.statusCode = 500;
            outgoing.end();
          } else outgoing.destroy(error instanceof Error ? error : undefined);
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const bound = typeof address === "object" && address !== null ? address : { address: hostname, port };
    fallbackHost = bound.address.includes(":")
      ? `[${bound.address}]:${bound.port}`
      : `${bound.address}:${bound.port}`;
    let stopping: Promise<void> | undefined;
    return {
      hostname: bound.address,
      port: bound.port,
      shutdown: () =>
        stopping ??= new Promise<void>((resolve) => {
          draining = true;
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
      close: () => server.closeAllConnections(),
    };
  },
};

/**
 * The part every gateway example shares: a Hono app that forwards `/api/*` to a discovered service
 * through `balancedFetch`, and lists what discovery currently knows at `/_gateway/instances`. Each
 * `*_gateway.ts` example wires its own registry to it.
 */
import { Hono } from "hono";
import type { DefaultEndpointer, EndpointEntry } from "../mod.ts";

/** What {@linkcode proxyApp} needs. */
export interface ProxyAppOptions {
  /** Fields shown first at `/_gateway/instances`, e.g. `{ service: "api" }`. */
  describe: Record<string, unknown>;
  /** The endpointer behind `upstream`, for the listing and for waiting on first discovery. */
  endpointer: DefaultEndpointer<Request, Response>;
  /** A `balancedFetch` over the endpointer. */
  upstream: (input: string, init?: RequestInit) => Promise<Response>;
  /** How one instance is listed. Default: its string and all its details. */
  show?: (entry: EndpointEntry<Request, Response>) => Record<string, unknown>;
}

/** Builds the gateway app. */
export function proxyApp(options: ProxyAppOptions): Hono {
  const { endpointer, upstream } = options;
  const show = options.show ?? ((e) => ({ instance: e.instance, ...e.details }));
  const app = new Hono();
  app.get("/_gateway/instances", (c) =>
    c.json({
      ...options.describe,
      instances: endpointer.entries().map(show),
      error: endpointer.error?.message ?? null,
    }));
  app.all("/api/*", async (c) => {
    // Only the first requests wait for discovery; later ones use what is known.
    if (endpointer.entries().length === 0) {
      try {
        await endpointer.ready({ signal: AbortSignal.timeout(5000) });
      } catch (error) {
        // A discovery error before any instances (registry down, a loop that could not start) or the
        // timeout: say so now instead of a bare 500.
        return c.json({ error: (error as Error).message }, 503);
      }
    }
    const url = new URL(c.req.url);
    const path = url.pathname.slice("/api".length) || "/";
    try {
      return await upstream(`${path}${url.search}`, {
        method: c.req.method,
        headers: c.req.raw.headers,
        body: c.req.raw.body,
        // Streamed request bodies need this to be forwarded.
        ...(c.req.raw.body ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (error) {
      return c.json({ error: (error as Error).message }, 502);
    }
  });
  return app;
}

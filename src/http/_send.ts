// The route by which balancedFetch hands a request to an httpFactory endpoint without building a
// Request for it, and the parsing both share. Internal.
import type { Endpoint } from "../types.ts";
import type { ReplayBody } from "./_body.ts";

/** One request to send, as balancedFetch prepared it. */
export interface Outgoing {
  /** Path and query, from the first "/"; no fragment. */
  readonly path: string;
  /** Method, headers, body and redirect mode come from it when set. */
  readonly request: Request | undefined;
  /** The method when `request` is unset (normalised as `Request` would). */
  readonly method: string;
  /** The headers when `request` is unset. */
  readonly headers: Headers | undefined;
  /** The request's body as the call shares it between attempts; unset: read from a clone. */
  readonly body?: ReplayBody | undefined;
}

/** Sends an {@linkcode Outgoing} to `base` (an instance's origin and the factory's path prefix). */
export type Send = (base: string, outgoing: Outgoing, signal: AbortSignal | undefined) => Promise<Response>;

/** The property under which httpFactory endpoints carry their factory's {@linkcode Send}. */
export const SEND: unique symbol = Symbol("edgekit.sd.http.send");

/** The property under which httpFactory endpoints carry the `base` to give their {@linkcode Send}. */
export const SEND_BASE: unique symbol = Symbol("edgekit.sd.http.base");

/**
 * An endpoint that may carry a {@linkcode Send} and its base: two properties rather than a closure per
 * endpoint, which would cost about 100 bytes more per instance.
 */
export type SendingEndpoint = Endpoint<Request, Response> & { [SEND]?: Send; [SEND_BASE]?: string };

/** Path and query of an absolute URL as `Request.url` serialises it (one parse at most). */
export function pathOf(href: string): string {
  // A serialised http(s) URL always has a path, and its authority holds no "/".
  if (href.startsWith("http://") || href.startsWith("https://")) {
    const slash = href.indexOf("/", href.indexOf(":") + 3);
    if (slash !== -1) {
      const hash = href.indexOf("#", slash);
      const path = hash === -1 ? href.slice(slash) : href.slice(slash, hash);
      // An empty query ("/a?") is no query, as URL.search has it.
      return path.endsWith("?") ? path.slice(0, -1) : path;
    }
  }
  const url = new URL(href);
  return url.pathname + url.search;
}

// One exchange with a Eureka server and failover between servers: a deadline covering headers and
// body, a capped body, basic auth, and every failure turned into the library's errors; internal.
import { deadline } from "../_async.ts";
import { BodyTooLargeError, fetchWithin, readBody } from "../_body.ts";
import { redact } from "../_redact.ts";
import { requireSignal } from "../_validate.ts";
import {
  describe,
  MalformedResponseError,
  RegistryRejectedError,
  RegistryUnavailableError,
} from "../errors.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import type { EurekaCallOptions } from "./client.ts";

/** One server. */
export interface Server {
  /** The base URL without credentials or a trailing slash. */
  base: string;
  authorization: string | undefined;
  /** Whether the server has answered a call with a 2xx, proving the base path right. */
  verified: boolean;
}

/** What a server answered: the status, the body read in full, and which server it was. */
export interface Answer {
  status: number;
  text: string;
  server: Server;
}

/** Sends requests to a list of servers, starting with the last one that worked. */
export class Transport {
  readonly #servers: Server[];
  readonly #timeout: number;
  readonly #maxBytes: number;
  readonly #fetch: FetchFunction;
  readonly #logger: Logger | undefined;
  #preferred = 0;

  constructor(
    servers: Server[],
    timeout: number,
    maxBytes: number,
    fetchImpl: FetchFunction,
    logger: Logger | undefined,
  ) {
    this.#servers = servers;
    this.#timeout = timeout;
    this.#maxBytes = maxBytes;
    this.#fetch = fetchImpl;
    this.#logger = logger;
  }

  /** The server base URLs, in the order given. */
  get urls(): string[] {
    return this.#servers.map((s) => s.base);
  }

  /**
   * Makes sure that a 404 from `server` means "not there" rather than "wrong base path" (Spring's
   * server answers both with the same 404): unless the server has answered a call with a 2xx before,
   * asks it for `/apps/delta`, which always exists under a right base path.
   */
  async verify(server: Server, options: EurekaCallOptions): Promise<void> {
    if (server.verified) return;
    const answer = await this.#attempt(server, "GET", "/apps/delta", options.signal, [404], undefined);
    if (answer.status === 404) {
      throw new RegistryRejectedError(
        `Eureka at ${server.base} answered 404 to GET /apps/delta: no Eureka API there; check the base path (Spring Cloud: /eureka, Netflix: /eureka/v2)`,
        404,
      );
    }
  }

  /** Sends one request, failing over between servers on network failures, timeouts and 5xx. */
  async call(
    method: string,
    path: string,
    options: EurekaCallOptions,
    accept: readonly number[] = [],
    body?: string,
  ): Promise<Answer> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const signal = options.signal;
    requireSignal(signal, "options.signal");
    if (signal?.aborted) throw signal.reason;
    let last: unknown;
    for (let i = 0; i < this.#servers.length; i++) {
      const index = (this.#preferred + i) % this.#servers.length;
      const server = this.#servers[index]!;
      try {
        const answer = await this.#attempt(server, method, path, signal, accept, body);
        this.#preferred = index;
        return answer;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof RegistryUnavailableError)) throw error;
        last = error;
        if (i + 1 < this.#servers.length) {
          this.#logger?.warn("Eureka server failed; trying the next one", {
            server: server.base,
            error: error.message,
          });
        }
      }
    }
    throw last;
  }

  async #attempt(
    server: Server,
    method: string,
    path: string,
    signal: AbortSignal | undefined,
    accept: readonly number[],
    body: string | undefined,
  ): Promise<Answer> {
    const what = `${method} ${path.replace(/\?.*/, "")}`;
    const limit = deadline(this.#timeout, signal);
    let status: number;
    let text: string;
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (server.authorization !== undefined) headers["authorization"] = server.authorization;
      const init: RequestInit & { signal: AbortSignal } = { method, headers, signal: limit.signal };
      if (body !== undefined) init.body = body;
      const response = await fetchWithin(this.#fetch, `${server.base}${path}`, init);
      status = response.status;
      // Read within the deadline: a server that sends headers and then stalls is as dead as one
      // that never answers.
      text = new TextDecoder().decode(await readBody(response, this.#maxBytes, limit.signal));
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof BodyTooLargeError) {
        throw new MalformedResponseError(`Eureka at ${server.base}: the ${error.message} (${what})`);
      }
      const reason = limit.signal.aborted ? `no answer within ${this.#timeout} ms` : describe(error);
      throw new RegistryUnavailableError(`Eureka at ${server.base} failed ${what}: ${reason}`, {
        cause: error,
      });
    } finally {
      limit.clear();
    }
    if (status >= 200 && status < 300) server.verified = true;
    if ((status >= 200 && status < 300) || accept.includes(status)) return { status, text, server };
    const detail = errorText(text);
    if (status >= 500 || status === 429) {
      throw new RegistryUnavailableError(
        `Eureka at ${server.base} answered ${status} to ${what}${detail ? `: ${detail}` : ""}`,
      );
    }
    throw new RegistryRejectedError(
      `Eureka at ${server.base} refused ${what} with ${status}${detail ? `: ${detail}` : ""}`,
      status,
      detail,
    );
  }
}

/** Parses one server URL: credentials in it become basic auth (else `fallback`). */
export function parseServer(value: unknown, name: string, fallback: string | undefined): Server {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw new TypeError(`${name} is not a URL: ${describe(value)}`);
  }
  if (typeof value !== "string" || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(`${name} must be an http: or https: URL, got ${describe(value)}`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError(`${name} must not have a query or fragment, got ${describe(value)}`);
  }
  let authorization = fallback;
  if (url.username !== "" || url.password !== "") {
    let username: string, password: string;
    try {
      username = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      throw new TypeError(`${name} has a bad %-escape in its credentials, got ${describe(value)}`);
    }
    authorization = basic(username, password);
    // fetch refuses URLs with credentials; they travel in the header instead.
    url.username = "";
    url.password = "";
  }
  return { base: url.href.replace(/\/+$/, ""), authorization, verified: false };
}

/** A basic-auth header value for UTF-8 credentials. */
export function basic(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

function errorText(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    const message = parsed.message ?? parsed.error;
    if (typeof message === "string" && message !== "") return redact(message);
  } catch {
    // not JSON: use the text itself
  }
  return redact(text.trim()).slice(0, 200) || undefined;
}

/**
 * A client for etcd v3's HTTP/JSON gateway over `fetch`.
 *
 * @module
 */
import { deadline, raceSignal } from "../_async.ts";
import { BodyTooLargeError, fetchWithin, readBody } from "../_body.ts";
import { redact } from "../_redact.ts";
import { requireFunction, requireNumber, requireSignal, requireString } from "../_validate.ts";
import {
  describe,
  MalformedResponseError,
  RegistryRejectedError,
  RegistryUnavailableError,
} from "../errors.ts";
import type { FetchFunction } from "../http/factory.ts";
import type { Logger } from "../types.ts";
import { array, fromBase64, int64, LineSplitter, object, prefixEnd, smallInt, toBase64 } from "./_wire.ts";

/** Options for {@linkcode EtcdClient}. */
export interface EtcdClientOptions {
  /** Member URLs such as `http://127.0.0.1:2379`, tried in turn when one fails. Required. */
  endpoints: readonly string[];
  /** User name for etcd's authentication; with `password`. Default: no authentication. */
  username?: string;
  /** Password for `username`. */
  password?: string;
  /** Milliseconds each call may take on one member (for a watch: until its headers). Default: 5,000. */
  timeout?: number;
  /** Largest answer accepted, in bytes (a watch: the largest single message). Default: 16 MiB. */
  maxResponseBytes?: number;
  /** The fetch to use. Default: the global `fetch`, called unbound. */
  fetch?: FetchFunction;
  /** Receives failovers and re-authentications. Default: silent. */
  logger?: Logger;
}

/** Per-call options. */
export interface EtcdCallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** One key-value pair, decoded. Revisions and lease IDs stay decimal strings (they exceed 2^53). */
export interface EtcdKeyValue {
  /** The key. */
  key: string;
  /** The value (bytes that are not UTF-8 come out as U+FFFD, as in the key). */
  value: string;
  /** The revision that last modified it. */
  modRevision: string;
  /** The lease it is attached to, `"0"` for none. */
  lease: string;
}

/** The answer to {@linkcode EtcdClient.range}. */
export interface EtcdRange {
  /** The store's revision when the range was read. */
  revision: string;
  /** The pairs, in key order. */
  kvs: EtcdKeyValue[];
}

/** Options for {@linkcode EtcdClient.range} and {@linkcode EtcdClient.delete}. */
export interface EtcdRangeOptions extends EtcdCallOptions {
  /** Treat the key as a prefix. Default: false. */
  prefix?: boolean;
}

/** Options for {@linkcode EtcdClient.watch}. */
export interface EtcdWatchOptions extends EtcdCallOptions {
  /** Treat the key as a prefix. Default: false. */
  prefix?: boolean;
  /** First revision to report (history replay); `"0"` means from now. Default: `"0"`. */
  startRevision?: string;
  /** Ask for progress notifications (empty messages carrying the current revision). Default: true. */
  progressNotify?: boolean;
}

/** One message of a watch stream, decoded. */
export interface EtcdWatchMessage {
  /** The revision of the store as of this message. */
  revision: string;
  /** The ID of the cluster that sent it (`header.cluster_id`), if given. */
  clusterId: string | undefined;
  /** The watch was created. */
  created: boolean;
  /** The watch was cancelled by the server. */
  canceled: boolean;
  /** With `canceled`: the compaction revision that made history unavailable, if that is why. */
  compactRevision: string | undefined;
  /** The server's reason for a cancellation, if given. */
  cancelReason: string | undefined;
  /** The changes, oldest first (none in a progress notification). */
  events: { type: "PUT" | "DELETE"; kv: EtcdKeyValue }[];
}

const PREFIXES = ["/v3", "/v3beta", "/v3alpha"] as const;

/**
 * Speaks etcd v3's HTTP/JSON gateway (grpc-gateway) with `fetch`, for runtimes without gRPC: range,
 * put, delete, leases and a streaming watch. It handles the gateway's encoding (base64 keys and values,
 * 64-bit numbers as strings, omitted zero values), fails over between members starting with the last
 * one that worked, authenticates with a user name and password (and again when the token is
 * rejected), and finds the gateway prefix (`/v3`, older `/v3beta`, `/v3alpha`). Every call has a
 * timeout and takes a signal. One client can serve any number of instancers and registrars: calls
 * share nothing but the token and the preferred member.
 *
 * @example
 * ```ts
 * import { EtcdClient } from "./client.ts";
 * import { assertEquals } from "@std/assert";
 *
 * // A stand-in gateway so the example runs offline.
 * const fakeEtcd = (input: Request | URL | string) => {
 *   const path = new URL(new Request(input).url).pathname;
 *   assertEquals(path, "/v3/kv/range");
 *   return Promise.resolve(Response.json({
 *     header: { revision: "7" },
 *     kvs: [{ key: btoa("/services/api/a"), value: btoa("10.0.0.1:8080"), mod_revision: "5" }],
 *   }));
 * };
 * const client = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"], fetch: fakeEtcd });
 * const { revision, kvs } = await client.range("/services/api/", { prefix: true });
 * assertEquals(revision, "7");
 * assertEquals(kvs[0]?.value, "10.0.0.1:8080");
 * ```
 */
export class EtcdClient {
  readonly #endpoints: string[];
  readonly #username: string | undefined;
  readonly #password: string | undefined;
  readonly #timeout: number;
  readonly #maxBytes: number;
  readonly #fetch: FetchFunction;
  readonly #logger: Logger | undefined;
  #preferred = 0;
  #prefix: (typeof PREFIXES)[number] = "/v3";
  #token: string | undefined;

  /**
   * Creates a client. No request is made until the first call.
   *
   * @param options Members, credentials, limits and injectables.
   * @throws {TypeError | RangeError} If an option is invalid.
   */
  constructor(options: EtcdClientOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object with endpoints, got ${describe(options)}`);
    }
    const { endpoints } = options;
    if (!Array.isArray(endpoints) || endpoints.length === 0) {
      throw new TypeError(`options.endpoints must be a non-empty array of URLs, got ${describe(endpoints)}`);
    }
    this.#endpoints = endpoints.map((e, i) => {
      let url: URL;
      try {
        url = new URL(e);
      } catch {
        throw new TypeError(`options.endpoints[${i}] is not a URL: ${describe(e)}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new TypeError(`options.endpoints[${i}] must be an http: or https: URL, got ${describe(e)}`);
      }
      if (url.username !== "" || url.password !== "") {
        // Dropped silently, they would leave the client unauthenticated; etcd takes a user and a
        // password to get a token, one pair for every member.
        throw new TypeError(
          `options.endpoints[${i}] must not carry credentials (use options.username and options.password), got ${
            describe(e)
          }`,
        );
      }
      return url.origin;
    });
    if ((options.username === undefined) !== (options.password === undefined)) {
      throw new TypeError("options.username and options.password go together");
    }
    if (options.username !== undefined) requireString(options.username, "options.username");
    this.#username = options.username;
    this.#password = options.password;
    this.#timeout = requireNumber(options.timeout ?? 5000, "options.timeout", { min: 1 });
    this.#maxBytes = requireNumber(options.maxResponseBytes ?? 16 << 20, "options.maxResponseBytes", {
      min: 64,
      integer: true,
    });
    if (options.fetch !== undefined) requireFunction(options.fetch, "options.fetch");
    // Unbound on purpose: workerd throws "Illegal invocation" for a stored fetch called as a method.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#logger = options.logger;
  }

  /** The member URLs, in the order given. */
  get endpoints(): readonly string[] {
    return [...this.#endpoints];
  }

  /**
   * Reads a key, or every key under a prefix.
   *
   * @param key The key or prefix.
   * @param options `prefix` and a signal.
   * @returns The store revision and the pairs in key order.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async range(key: string, options: EtcdRangeOptions = {}): Promise<EtcdRange> {
    const body: Record<string, unknown> = { key: toBase64(requireString(key, "key")) };
    if (options.prefix) body["range_end"] = prefixEnd(key);
    const answer = await this.#call("/kv/range", body, options.signal);
    return {
      revision: int64(object(answer["header"], "header")["revision"], "header.revision"),
      kvs: array(answer["kvs"], "kvs").map((kv, i) => decodeKv(kv, `kvs[${i}]`)),
    };
  }

  /**
   * Writes a key, optionally attached to a lease.
   *
   * @param key The key.
   * @param value The value.
   * @param options A lease ID and a signal.
   * @returns The revision of the write.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async put(key: string, value: string, options: EtcdCallOptions & { lease?: string } = {}): Promise<string> {
    if (typeof value !== "string") throw new TypeError(`value must be a string, got ${describe(value)}`);
    const body: Record<string, unknown> = {
      key: toBase64(requireString(key, "key")),
      value: toBase64(value),
    };
    if (options.lease !== undefined) body["lease"] = options.lease;
    const answer = await this.#call("/kv/put", body, options.signal);
    return int64(object(answer["header"], "header")["revision"], "header.revision");
  }

  /**
   * Deletes a key, or every key under a prefix.
   *
   * @param key The key or prefix.
   * @param options `prefix` and a signal.
   * @returns How many keys were deleted.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async delete(key: string, options: EtcdRangeOptions = {}): Promise<number> {
    const body: Record<string, unknown> = { key: toBase64(requireString(key, "key")) };
    if (options.prefix) body["range_end"] = prefixEnd(key);
    const answer = await this.#call("/kv/deleterange", body, options.signal);
    return smallInt(answer["deleted"], "deleted");
  }

  /**
   * Grants a lease.
   *
   * @param ttl Its time to live in whole seconds (etcd may raise it to its minimum).
   * @param options A signal.
   * @returns The lease ID (a decimal string: IDs exceed 2^53) and the TTL granted.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async grant(ttl: number, options: EtcdCallOptions = {}): Promise<{ id: string; ttl: number }> {
    requireNumber(ttl, "ttl", { min: 1, integer: true });
    const answer = await this.#call("/lease/grant", { TTL: String(ttl) }, options.signal);
    const id = int64(answer["ID"], "ID");
    if (id === "0") throw new MalformedResponseError(`etcd granted lease ID 0 (${describe(answer)})`);
    return { id, ttl: smallInt(answer["TTL"], "TTL") };
  }

  /**
   * Renews a lease once (one request, not a stream: simpler at the edge).
   *
   * @param id The lease ID.
   * @param options A signal.
   * @returns The remaining TTL in seconds; 0 means the lease is gone (expired or revoked).
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async keepAlive(id: string, options: EtcdCallOptions = {}): Promise<number> {
    const answer = await this.#call("/lease/keepalive", { ID: requireString(id, "id") }, options.signal);
    if (answer["error"] !== undefined) {
      // A failing stream is a 200 with an error object and no TTL: not a lost lease.
      const error = object(answer["error"], "error");
      const text = typeof error["message"] === "string"
        ? redact(error["message"])
        : describe(answer["error"]);
      throw new RegistryUnavailableError(`etcd keep-alive of lease ${id} failed: ${text}`);
    }
    // The gateway wraps stream messages in "result"; an unknown lease comes back without a TTL.
    const result = object(answer["result"] ?? answer, "result");
    return smallInt(result["TTL"], "result.TTL");
  }

  /**
   * Revokes a lease, deleting every key attached to it. A lease that is already gone is not an error.
   *
   * @param id The lease ID.
   * @param options A signal.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async revoke(id: string, options: EtcdCallOptions = {}): Promise<void> {
    try {
      await this.#call("/lease/revoke", { ID: requireString(id, "id") }, options.signal);
    } catch (error) {
      if (error instanceof RegistryRejectedError && error.status === 404) return;
      throw error;
    }
  }

  /**
   * Opens a watch and yields its messages as they arrive (newline-delimited JSON read from the
   * response body). The stream ends when the server closes it, and throws when it breaks, sends an
   * error or garbage. Abort the signal (or stop iterating) to close it.
   *
   * @param key The key or prefix.
   * @param options `prefix`, `startRevision`, `progressNotify` and a signal.
   * @returns The messages.
   * @throws {RegistryUnavailableError | RegistryRejectedError | MalformedResponseError}
   */
  async *watch(
    key: string,
    options: EtcdWatchOptions = {},
  ): AsyncGenerator<EtcdWatchMessage, void, undefined> {
    const create: Record<string, unknown> = { key: toBase64(requireString(key, "key")) };
    if (options.prefix) create["range_end"] = prefixEnd(key);
    if (options.startRevision !== undefined && options.startRevision !== "0") {
      create["start_revision"] = options.startRevision;
    }
    if (options.progressNotify ?? true) create["progress_notify"] = true;
    const response = await this.#send("/watch", { create_request: create }, options.signal, true);
    for await (const message of readWatch(response, this.#maxBytes, options.signal)) {
      if (message.canceled && this.#username !== undefined && isAuthFailure(0, message.cancelReason)) {
        // etcd refuses a stale token inside the stream (HTTP 200), so #attempt never sees it: drop
        // the token so that the next call (the watcher's retry) authenticates again.
        this.#token = undefined;
      }
      yield message;
    }
  }

  async #call(
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    const response = await this.#send(path, body, signal, false);
    // #attempt has already read the whole body, within the member's deadline.
    return parseObject(await response.text(), path);
  }

  /**
   * Sends one POST, failing over between members. Returns a 200 response whose body is unread;
   * every other outcome is thrown. For a stream the timeout covers only the headers.
   */
  async #send(
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    stream: boolean,
  ): Promise<Response> {
    requireSignal(signal, "options.signal");
    let last: unknown;
    for (let i = 0; i < this.#endpoints.length; i++) {
      const index = (this.#preferred + i) % this.#endpoints.length;
      const endpoint = this.#endpoints[index]!;
      try {
        const response = await this.#attempt(endpoint, path, body, signal, stream);
        this.#preferred = index;
        return response;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof RegistryUnavailableError)) throw error;
        last = error;
        if (i + 1 < this.#endpoints.length) {
          this.#logger?.warn("etcd member failed; trying the next one", { endpoint, error: error.message });
        }
      }
    }
    throw last;
  }

  async #attempt(
    endpoint: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    stream: boolean,
  ): Promise<Response> {
    for (let round = 0;; round++) {
      if (this.#username !== undefined && this.#token === undefined) {
        this.#token = await this.#authenticate(endpoint, signal);
      }
      const limit = deadline(this.#timeout, signal);
      const prefix = this.#prefix;
      let response: Response;
      try {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (this.#token !== undefined) headers["authorization"] = this.#token;
        response = await fetchWithin(this.#fetch, `${endpoint}${prefix}${path}`, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          // A stream outlives the timeout: only the caller's signal may end it.
          signal: stream && signal !== undefined ? AbortSignal.any([signal, limit.signal]) : limit.signal,
        });
        if (!stream || response.status !== 200) {
          // The deadline covers the body too: a member that sends headers and then stalls is as dead
          // as one that never answers (and the caller's signal must still reach the body).
          const text = new TextDecoder().decode(await readBody(response, this.#maxBytes, limit.signal));
          response = new Response(text === "" ? null : text, { status: response.status });
        }
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof BodyTooLargeError) throw new MalformedResponseError(`etcd ${error.message}`);
        const what = limit.signal.aborted ? `no answer within ${this.#timeout} ms` : describe(error);
        throw new RegistryUnavailableError(`etcd at ${endpoint} failed on ${path}: ${what}`, {
          cause: error,
        });
      } finally {
        limit.clear();
      }
      if (response.status === 200) return response;
      const text = await response.text().catch(() => "");
      const detail = errorText(text);
      if (response.status === 404 && text.trim() === "404 page not found" && round < PREFIXES.length) {
        this.#olderPrefix(prefix, endpoint);
        continue;
      }
      if (this.#username !== undefined && round === 0 && isAuthFailure(response.status, detail)) {
        // The token expired or the member restarted: authenticate again, once.
        this.#logger?.info("etcd rejected the auth token; authenticating again", { endpoint });
        this.#token = undefined;
        continue;
      }
      if (response.status >= 500) {
        throw new RegistryUnavailableError(
          `etcd at ${endpoint} answered ${response.status} on ${path}${detail ? `: ${detail}` : ""}`,
        );
      }
      throw new RegistryRejectedError(
        `etcd at ${endpoint} refused ${path} with ${response.status}${detail ? `: ${detail}` : ""}`,
        response.status,
        detail,
      );
    }
  }

  /**
   * Moves to the next older gateway prefix after `used` answered 404 (unless a concurrent call has
   * already moved on from it).
   */
  #olderPrefix(used: (typeof PREFIXES)[number], endpoint: string): void {
    if (this.#prefix !== used) return;
    const next = PREFIXES[PREFIXES.indexOf(used) + 1];
    if (next === undefined) throw new RegistryRejectedError(`etcd at ${endpoint} has no v3 gateway`, 404);
    this.#logger?.info("etcd gateway prefix not found; trying an older one", { from: used, to: next });
    this.#prefix = next;
  }

  async #authenticate(endpoint: string, signal: AbortSignal | undefined): Promise<string> {
    const limit = deadline(this.#timeout, signal);
    const prefix = this.#prefix;
    let response: Response;
    let text: string;
    try {
      response = await fetchWithin(this.#fetch, `${endpoint}${prefix}/auth/authenticate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: this.#username, password: this.#password }),
        signal: limit.signal,
      });
      text = new TextDecoder().decode(await readBody(response, this.#maxBytes, limit.signal));
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new RegistryUnavailableError(`etcd at ${endpoint} failed to authenticate: ${describe(error)}`, {
        cause: error,
      });
    } finally {
      limit.clear();
    }
    if (response.status === 404 && text.trim() === "404 page not found") {
      // Authentication is the first call: it finds the gateway prefix (the prefix only moves on).
      this.#olderPrefix(prefix, endpoint);
      return await this.#authenticate(endpoint, signal);
    }
    if (response.status !== 200) {
      const detail = errorText(text);
      const message = `etcd at ${endpoint} refused user ${JSON.stringify(this.#username)}: ${
        detail ?? response.status
      }`;
      if (response.status >= 500) throw new RegistryUnavailableError(message);
      throw new RegistryRejectedError(message, response.status, detail);
    }
    const token = parseObject(text, "/auth/authenticate")["token"];
    if (typeof token !== "string" || token === "") {
      throw new MalformedResponseError(
        `etcd answered authenticate without a token: ${describe(text.slice(0, 80))}`,
      );
    }
    return token;
  }
}

function parseObject(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedResponseError(
      `etcd answered ${path} with invalid JSON: ${describe(text.slice(0, 80))}`,
    );
  }
  return object(value, `the answer to ${path}`);
}

function errorText(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    const message = parsed.message ?? parsed.error;
    if (typeof message === "string") return redact(message);
  } catch {
    // not JSON: use the text itself
  }
  return redact(text.trim()).slice(0, 200) || undefined;
}

function isAuthFailure(status: number, detail: string | undefined): boolean {
  return status === 401 ||
    /invalid auth token|user name is empty|token.*(expired|invalid)/i.test(detail ?? "");
}

function decodeKv(value: unknown, field: string): EtcdKeyValue {
  const kv = object(value, field);
  return {
    key: fromBase64(kv["key"], `${field}.key`),
    value: fromBase64(kv["value"], `${field}.value`),
    modRevision: int64(kv["mod_revision"], `${field}.mod_revision`),
    lease: int64(kv["lease"], `${field}.lease`),
  };
}

/**
 * Reads newline-delimited JSON watch messages from a response body. Linear in the body's size: the
 * pieces of an unfinished message are kept in a list, only newly arrived text is searched for the
 * newline, and a message is joined once when it is complete.
 */
async function* readWatch(
  response: Response,
  maxLine: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<EtcdWatchMessage, void, undefined> {
  if (response.body === null) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const splitter = new LineSplitter(maxLine);
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await raceSignal(reader.read(), signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw new RegistryUnavailableError(`etcd watch stream broke: ${describe(error)}`, { cause: error });
      }
      if (chunk.done) break;
      for (const line of splitter.push(chunk.value)) yield decodeWatchLine(line);
    }
    const last = splitter.end();
    if (last !== undefined) yield decodeWatchLine(last);
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function decodeWatchLine(line: string): EtcdWatchMessage {
  const message = parseObject(line, "/watch");
  if (message["error"] !== undefined) {
    const error = object(message["error"], "error");
    const text = typeof error["message"] === "string" ? redact(error["message"]) : describe(message["error"]);
    throw new RegistryUnavailableError(`etcd ended the watch stream: ${text}`);
  }
  const result = object(message["result"], "result");
  const header = object(result["header"], "result.header");
  const canceled = result["canceled"] === true;
  const compact = result["compact_revision"];
  return {
    revision: int64(header["revision"], "result.header.revision"),
    clusterId: typeof header["cluster_id"] === "string" ? header["cluster_id"] : undefined,
    created: result["created"] === true,
    canceled,
    compactRevision: canceled && compact !== undefined && compact !== "0"
      ? int64(compact, "result.compact_revision")
      : undefined,
    cancelReason: typeof result["cancel_reason"] === "string" ? result["cancel_reason"] : undefined,
    events: array(result["events"], "result.events").map((e, i) => {
      const event = object(e, `result.events[${i}]`);
      const type = event["type"] ?? "PUT"; // PUT is enum 0, so the gateway omits it
      if (type !== "PUT" && type !== "DELETE") {
        throw new MalformedResponseError(`etcd sent event type ${describe(type)}, expected PUT or DELETE`);
      }
      return { type, kv: decodeKv(event["kv"], `result.events[${i}].kv`) };
    }),
  };
}

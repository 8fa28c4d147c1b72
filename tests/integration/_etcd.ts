// Helpers for the etcd real-server tests. They talk to etcd's v3 JSON gateway with plain fetch
// (kept independent of src/ so the tests check the library against requests written here) and drive
// the servers of `scripts/servers/etcd.sh` (restart, stop a cluster member, turn auth on) through
// Deno.Command, which needs --allow-run. Its `env` command prints the variables read here:
// SD_ETCD_ENDPOINTS, SD_ETCD_CLUSTER, SD_ETCD_AUTH_USER/_PASSWORD/_PREFIX.
//
// `deno test --parallel` runs test files side by side against the same servers. A test that
// disrupts them (restart, auth, compaction, stopping a member) runs under withEtcdLock("exclusive");
// every other etcd test runs under withEtcdLock("shared"), so the two never overlap.

import { serverScript, withServerLock } from "./_server.ts";
const encoder = new TextEncoder();

/** UTF-8 text to base64, as the gateway wants keys and values. */
export function b64(text: string): string {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** base64 from the gateway back to UTF-8 text. */
export function unb64(value: string): string {
  return new TextDecoder("utf-8", { fatal: true }).decode(
    Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
  );
}

/** The base64 `range_end` covering every key that starts with `prefix` (last byte + 1). */
export function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix);
  if (bytes.length === 0 || bytes[bytes.length - 1] === 0xff) {
    throw new RangeError(`Unsupported prefix "${prefix}"`);
  }
  bytes[bytes.length - 1]! += 1;
  return btoa(String.fromCharCode(...bytes));
}

/** A key prefix no other test (or earlier run) uses: `/sd-test/<name>/<random>/`. */
export function uniquePrefix(name: string): string {
  return `/sd-test/${name}/${crypto.randomUUID().slice(0, 8)}/`;
}

/** A gateway error: HTTP status plus the gRPC code and message of `{"error","message","code"}`. */
export class EtcdHttpError extends Error {
  constructor(readonly status: number, readonly code: number | undefined, message: string) {
    super(`etcd answered HTTP ${status} (gRPC code ${code}): ${message}`);
    this.name = "EtcdHttpError";
  }
}

/** Response header; every int64 arrives as a string. */
export interface Header {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

/** A key-value as the gateway sends it: base64 key/value, int64 strings, zero values omitted. */
export interface KeyValue {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export interface RangeResponse {
  header: Header;
  kvs?: KeyValue[];
  count?: string;
}

/** Options shared by the gateway calls. */
export interface CallOptions {
  /** Token from {@linkcode authenticate}, sent as the raw `Authorization` header. */
  token?: string;
}

/** POSTs `body` as JSON to `endpoint` + `path` and returns the parsed answer; throws EtcdHttpError. */
export async function call<T = Record<string, unknown>>(
  endpoint: string,
  path: string,
  body: unknown,
  options: CallOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.token) headers["authorization"] = options.token;
  const res = await fetch(new URL(path, endpoint), { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) {
    let parsed: { code?: number; message?: string } = {};
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON: report the text */ }
    throw new EtcdHttpError(res.status, parsed.code, parsed.message ?? text);
  }
  return JSON.parse(text) as T;
}

/** Puts `key` = `value` (optionally attached to `lease`, an ID string); returns the new revision. */
export async function put(
  endpoint: string,
  key: string,
  value: string,
  options: CallOptions & { lease?: string } = {},
): Promise<string> {
  const body: Record<string, string> = { key: b64(key), value: b64(value) };
  if (options.lease) body["lease"] = options.lease;
  return (await call<{ header: Header }>(endpoint, "/v3/kv/put", body, options)).header.revision;
}

/** Reads `key`, or every key under it with `prefix: true`. */
export function range(
  endpoint: string,
  key: string,
  options: CallOptions & { prefix?: boolean; revision?: string } = {},
): Promise<RangeResponse> {
  const body: Record<string, string> = { key: b64(key) };
  if (options.prefix) body["range_end"] = prefixEnd(key);
  if (options.revision) body["revision"] = options.revision;
  return call<RangeResponse>(endpoint, "/v3/kv/range", body, options);
}

/** Deletes `key`, or every key under it with `prefix: true`; returns how many were deleted. */
export async function del(
  endpoint: string,
  key: string,
  options: CallOptions & { prefix?: boolean } = {},
): Promise<number> {
  const body: Record<string, string> = { key: b64(key) };
  if (options.prefix) body["range_end"] = prefixEnd(key);
  return Number(
    (await call<{ deleted?: string }>(endpoint, "/v3/kv/deleterange", body, options)).deleted ?? 0,
  );
}

/** Compacts history up to `revision` (physically, so the server has dropped it on return). */
export async function compact(endpoint: string, revision: string, options: CallOptions = {}): Promise<void> {
  await call(endpoint, "/v3/kv/compaction", { revision, physical: true }, options);
}

/** Grants a lease of `ttl` seconds; returns its ID, a decimal string that may exceed 2^53. */
export async function leaseGrant(endpoint: string, ttl: number, options: CallOptions = {}): Promise<string> {
  return (await call<{ ID: string }>(endpoint, "/v3/lease/grant", { TTL: ttl }, options)).ID;
}

/** One keepalive; returns the TTL granted again, 0 when the lease is gone (TTL omitted). */
export async function leaseKeepAlive(
  endpoint: string,
  id: string,
  options: CallOptions = {},
): Promise<number> {
  const answer = await call<{ result?: { TTL?: string } }>(
    endpoint,
    "/v3/lease/keepalive",
    { ID: id },
    options,
  );
  return Number(answer.result?.TTL ?? 0);
}

/** Revokes a lease, deleting its keys. */
export async function leaseRevoke(endpoint: string, id: string, options: CallOptions = {}): Promise<void> {
  await call(endpoint, "/v3/lease/revoke", { ID: id }, options);
}

/** Logs in; returns the token to pass as `token`. */
export async function authenticate(endpoint: string, name: string, password: string): Promise<string> {
  return (await call<{ token: string }>(endpoint, "/v3/auth/authenticate", { name, password })).token;
}

/** The credentials `etcd.sh auth-enable` creates (from `etcd.sh env`, with its defaults). */
export function authCredentials(): { user: string; password: string; prefix: string } {
  const env = (name: string, fallback: string) => Deno.env.get(name)?.trim() || fallback;
  return {
    user: env("SD_ETCD_AUTH_USER", "sd-test"),
    password: env("SD_ETCD_AUTH_PASSWORD", "sd-test-pw"),
    prefix: env("SD_ETCD_AUTH_PREFIX", "/sd-auth/"),
  };
}

/** The cluster's client URLs from SD_ETCD_CLUSTER (`etcd.sh cluster-start`), member 1 first. */
export function clusterEndpoints(): string[] {
  const value = Deno.env.get("SD_ETCD_CLUSTER")?.trim();
  if (!value) throw new Error(`SD_ETCD_CLUSTER is not set: run eval "$(bash scripts/servers/etcd.sh env)"`);
  return value.split(",");
}

/** Runs `bash scripts/servers/etcd.sh ARGS...`; returns its log (stderr); throws if it fails. */
export function etcdScript(...args: string[]): Promise<string> {
  return serverScript("etcd", ...args);
}

/** The single member: stop (clean, or SIGKILL with `kill`), resume on its data, restart on its data. */
export const single = {
  stop: (options: { kill?: boolean } = {}): Promise<string> =>
    etcdScript("stop", ...(options.kill ? ["--kill"] : [])),
  resume: (): Promise<string> => etcdScript("resume"),
  /** Clean stop, `seconds` down, start again on the same data. */
  restart: (seconds = 0): Promise<string> => etcdScript("restart", String(seconds)),
  authEnable: (): Promise<string> => etcdScript("auth-enable"),
  authDisable: (): Promise<string> => etcdScript("auth-disable"),
};

/** Cluster members 1-3 (member N serves clusterEndpoints()[N - 1]). */
export const cluster = {
  memberStop: (n: 1 | 2 | 3, options: { kill?: boolean } = {}): Promise<string> =>
    etcdScript("member-stop", String(n), ...(options.kill ? ["--kill"] : [])),
  memberStart: (n: 1 | 2 | 3): Promise<string> => etcdScript("member-start", String(n)),
  /** Moves the leadership to member N, so that stopping it forces an election. */
  memberLead: (n: 1 | 2 | 3): Promise<string> => etcdScript("member-lead", String(n)),
};

/**
 * Calls `fn` until it stops failing with HTTP 503 (gRPC Unavailable: "leader changed", "no
 * leader"), as a member answers while the cluster elects a new leader. Gives up after `ms`.
 */
export async function retryUnavailable<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof EtcdHttpError && e.status === 503) || Date.now() > deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `fn` holding a lock shared by every etcd test process: "shared" for ordinary tests,
 * "exclusive" for a test that disrupts the servers. The lock is flock on etcd.sh itself, so it
 * needs only --allow-read and is dropped when the file is closed, even if `fn` throws.
 */
export function withEtcdLock<T>(mode: "shared" | "exclusive", fn: () => Promise<T>): Promise<T> {
  return withServerLock("etcd", mode, fn);
}

/** One line of a watch stream: a `result` or, when the server goes away, an `error`. */
export interface WatchLine {
  result?: {
    header: Header;
    watch_id?: string;
    created?: boolean;
    canceled?: boolean;
    compact_revision?: string;
    events?: { type?: "DELETE"; kv: KeyValue; prev_kv?: KeyValue }[];
  };
  error?: { grpc_code: number; http_code: number; message: string; http_status: string };
}

/**
 * A streaming `POST /v3/watch`, read line by line from the body. `close()` aborts the fetch,
 * which ends the HTTP exchange and so the server-side watch; always call it (or use `await using`).
 */
export class WatchStream {
  readonly #abort: AbortController;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #pending: Promise<ReadableStreamReadResult<string>> | undefined;

  private constructor(abort: AbortController, reader: ReadableStreamDefaultReader<string>) {
    this.#abort = abort;
    this.#reader = reader;
  }

  /** Opens a watch with `createRequest` (base64 key, range_end, start_revision, prev_kv, ...). */
  static async open(endpoint: string, createRequest: Record<string, unknown>, options: CallOptions = {}) {
    const abort = new AbortController();
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.token) headers["authorization"] = options.token;
    const res = await fetch(new URL("/v3/watch", endpoint), {
      method: "POST",
      headers,
      body: JSON.stringify({ create_request: createRequest }),
      signal: abort.signal,
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw new EtcdHttpError(res.status, undefined, text);
    }
    return new WatchStream(abort, res.body.pipeThrough(new TextDecoderStream()).getReader());
  }

  /** The next line, or undefined when the stream ends; throws after `timeoutMs` without one. */
  async next(timeoutMs = 5000): Promise<WatchLine | undefined> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline).trim();
        this.#buffer = this.#buffer.slice(newline + 1);
        if (line) return JSON.parse(line) as WatchLine;
        continue;
      }
      this.#pending ??= this.#reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) =>
        timer = setTimeout(() => resolve("timeout"), timeoutMs)
      );
      const chunk = await Promise.race([this.#pending, timeout]).finally(() => clearTimeout(timer));
      if (chunk === "timeout") throw new Error(`No watch line within ${timeoutMs} ms`);
      this.#pending = undefined;
      if (chunk.done) {
        const rest = this.#buffer.trim();
        this.#buffer = "";
        return rest ? JSON.parse(rest) as WatchLine : undefined;
      }
      this.#buffer += chunk.value;
    }
  }

  /** Aborts the fetch and waits until the body is released. Idempotent. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#pending?.catch(() => {});
    this.#pending = undefined;
    await this.#reader.cancel().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

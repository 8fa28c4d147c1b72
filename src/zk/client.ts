/**
 * A ZooKeeper client over a TCP socket adapter: sessions that survive connection loss and server
 * failover, watches, ephemeral and sequential nodes, digest authentication and ACLs.
 *
 * @module
 */
import { type BackoffOptions, deadline } from "../_async.ts";
import { requireFunction, requireNumber, requireSignal, requireString } from "../_validate.ts";
import { backoffOptions } from "../background_instancer.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../types.ts";
import { OP, type Reader, type Writer, type ZkAcl, type ZkStat } from "./_jute.ts";
import { hex, Session, type WatchKind, ZkSessionEvent, type ZkWatcher } from "./_session.ts";
import { isZkError, ZkError } from "./errors.ts";
import type { ZkConnect } from "./socket.ts";
import { OPEN_ACL_UNSAFE, parseServers, validatePath } from "./_util.ts";

export type { ZkAcl, ZkStat };

/** Options for {@linkcode ZkClient}. */
export interface ZkClientOptions {
  /** Opens TCP connections. Default: the runtime's adapter (Deno, Bun, Workers), loaded on first use. */
  connect?: ZkConnect;
  /** Session timeout to ask for, in ms; the server clamps it (by default to 2-20 ticks). Default: 10,000. */
  sessionTimeout?: number;
  /** Time to open a connection and complete the handshake with one server, in ms. Default: 3,000. */
  connectTimeout?: number;
  /** Default time limit of each call, in ms, including waiting for a (re)connection. Default: 10,000. */
  timeout?: number;
  /** Largest frame accepted from a server, in bytes; a longer length drops the connection. Default: 4 MiB. */
  maxFrameBytes?: number;
  /** Credentials sent on every connection, e.g. `{ scheme: "digest", auth: "user:password" }`. Default: none. */
  auth?: readonly { scheme: string; auth: string }[];
  /** ACL for nodes created without one. Default: {@linkcode OPEN_ACL_UNSAFE} (world: all). */
  acl?: readonly ZkAcl[];
  /** Pause between reconnection attempts: capped exponential with jitter. Default: `{ initial: 100, max: 2000, multiplier: 2 }`. */
  backoff?: Partial<BackoffOptions>;
  /** Random source in [0, 1) for the first server and jitter. Default: `Math.random`. */
  random?: () => number;
  /** Receives connection trouble. Default: silent. */
  logger?: Logger;
}

/** Per-call options. */
export interface ZkCallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Time limit in ms. Default: the client's `timeout`. */
  timeout?: number;
}

/** Options for calls that can leave a watch. */
export interface ZkWatchOptions extends ZkCallOptions {
  /** Called once when the node (or its children list) changes, or with `lost` when the watch is gone. */
  watch?: ZkWatcher;
}

/** How a node is created. */
export type ZkCreateMode = "persistent" | "ephemeral" | "persistent-sequential" | "ephemeral-sequential";

/** Options for {@linkcode ZkClient.create}. */
export interface ZkCreateOptions extends ZkCallOptions {
  /** Default: `"persistent"`. */
  mode?: ZkCreateMode;
  /**
   * Prefix the name with `_c_<32 hex digits>-` and, after a connection loss during the call, look for
   * the node by that prefix instead of creating a second one. Only with an ephemeral mode. Default: false.
   */
  protected?: boolean;
  /** Default: the client's `acl`. */
  acl?: readonly ZkAcl[];
}

/** Options for calls that check a version. */
export interface ZkVersionOptions extends ZkCallOptions {
  /** Expected version; `-1` matches any. Default: -1. */
  version?: number;
}

const FLAGS: Record<ZkCreateMode, number> = {
  "persistent": 0,
  "ephemeral": 1,
  "persistent-sequential": 2,
  "ephemeral-sequential": 3,
};
const encoder = new TextEncoder();
const bytes = (data: Uint8Array | string | undefined) =>
  typeof data === "string" ? encoder.encode(data) : data ?? new Uint8Array(0);

/**
 * A ZooKeeper client. It connects on the first call (or {@linkcode ZkClient.ready}), to a random
 * server of the list; on connection loss it moves to the next server and resumes the session (its
 * ephemeral nodes survive) as long as that happens within the session timeout; on session expiry it
 * dispatches `expired`, starts a new session and goes on (registrars recreate their nodes, instancers
 * re-arm their watches). A server that lost its data (restored empty) hangs up on a client that has
 * seen a later zxid than it holds, for good; once every server has hung up on the connect request,
 * the client asks once without that zxid, and a server that no longer knows the session makes that
 * an expiry like any other (one that is merely not serving hangs up again, and the session is kept).
 * Pings go out every third of the negotiated timeout; a server silent for two
 * thirds of it is dropped. Every call has a timeout and a signal; calls made while reconnecting wait
 * for the connection within their timeout. Calls in flight when a connection drops fail with
 * `CONNECTIONLOSS` (their effect is unknown). Errors from the server are {@linkcode ZkError}s.
 *
 * Events: `connected`, `disconnected` and `expired` ({@linkcode ZkSessionEvent}).
 *
 * @example
 * ```ts ignore
 * import { ZkClient } from "./client.ts";
 *
 * await using client = new ZkClient("127.0.0.1:2181");
 * await client.ensurePath("/services/api");
 * const node = await client.create("/services/api/", "10.0.0.1:8080", { mode: "ephemeral-sequential", protected: true });
 * const children = await client.getChildren("/services/api");
 * // node is "/services/api/_c_<guid>-0000000000", and children lists its name
 * ```
 */
export class ZkClient extends EventTarget implements AsyncDisposable {
  readonly #session: Session;
  readonly #timeout: number;
  readonly #acl: readonly ZkAcl[];

  /**
   * Creates a client; nothing connects until the first call.
   *
   * @param servers `host:port` entries, comma-separated or as an array (port 2181 when missing; IPv6
   *   as `[addr]:port`). A chroot suffix is not supported.
   * @param options Socket, timeouts, credentials, ACL, backoff.
   * @throws {TypeError | RangeError} If an argument is invalid.
   */
  constructor(servers: string | readonly string[], options: ZkClientOptions = {}) {
    super();
    const hosts = parseServers(servers);
    if (options.connect !== undefined) requireFunction(options.connect, "options.connect");
    const sessionTimeout = requireNumber(options.sessionTimeout ?? 10_000, "options.sessionTimeout", {
      min: 1,
      integer: true,
    });
    const connectTimeout = requireNumber(options.connectTimeout ?? 3_000, "options.connectTimeout", {
      min: 1,
    });
    this.#timeout = requireNumber(options.timeout ?? 10_000, "options.timeout", { min: 1 });
    const maxFrame = requireNumber(options.maxFrameBytes ?? 4 * 1024 * 1024, "options.maxFrameBytes", {
      min: 16,
      integer: true,
    });
    if (options.random !== undefined) requireFunction(options.random, "options.random");
    const auth = (options.auth ?? []).map((a, i) => ({
      scheme: requireString(a?.scheme, `options.auth[${i}].scheme`),
      auth: encoder.encode(requireString(a?.auth, `options.auth[${i}].auth`)),
    }));
    this.#acl = options.acl ?? OPEN_ACL_UNSAFE;
    if (!Array.isArray(this.#acl) || this.#acl.length === 0) {
      throw new TypeError(`options.acl must be a non-empty array, got ${describe(options.acl)}`);
    }
    this.#session = new Session({
      hosts,
      connect: options.connect,
      sessionTimeout,
      connectTimeout,
      maxFrame,
      auth,
      backoff: backoffOptions(options.backoff, { initial: 100, max: 2_000, multiplier: 2 }),
      random: options.random ?? Math.random,
      logger: options.logger,
      emit: (event) => this.dispatchEvent(event),
    });
  }

  /** `idle` (never connected), `connecting`, `connected` or `closed`. */
  get state(): "idle" | "connecting" | "connected" | "closed" {
    return this.#session.state;
  }

  /** The current session id as 16 hex digits (`"0000000000000000"` before the first session). */
  get sessionId(): string {
    return hex(this.#session.sessionId);
  }

  /** The session timeout the server granted, in ms (0 before the first session). */
  get sessionTimeout(): number {
    return this.#session.negotiatedTimeout;
  }

  /** The server currently connected to, as `host:port`. */
  get server(): string | undefined {
    return this.#session.server;
  }

  /**
   * Waits until a session is established (connecting if needed).
   *
   * @param options Signal and time limit.
   * @throws {ZkError} `REQUESTTIMEOUT` when the time limit passes first.
   */
  async ready(options: ZkCallOptions = {}): Promise<void> {
    await this.#call(options, (signal) => this.#session.ready(signal), "ready");
  }

  /**
   * Creates a node and returns its actual path (with the sequence number for sequential modes).
   *
   * @param path The node's path; for sequential modes it may end with `/` (the name is then just the
   *   prefix and sequence number).
   * @param data Its data. Default: empty.
   * @param options Mode, protection, ACL, signal and time limit.
   * @returns The created path.
   * @throws {ZkError} `NODEEXISTS`, `NONODE` (no parent), `NOAUTH`, `CONNECTIONLOSS` ...
   */
  async create(path: string, data?: Uint8Array | string, options: ZkCreateOptions = {}): Promise<string> {
    const mode = options.mode ?? "persistent";
    if (!(mode in FLAGS)) throw new TypeError(`options.mode must be a ZkCreateMode, got ${describe(mode)}`);
    validatePath(path, mode.endsWith("sequential"));
    const acl = options.acl ?? this.#acl;
    const body = bytes(data);
    if (!options.protected) return await this.#create(path, body, FLAGS[mode], acl, options);
    if (!mode.startsWith("ephemeral")) {
      throw new TypeError(`options.protected needs an ephemeral mode, got ${mode}`);
    }
    const cut = path.lastIndexOf("/");
    const parent = cut === 0 ? "/" : path.slice(0, cut);
    const prefix = `_c_${crypto.randomUUID().replaceAll("-", "")}-`;
    const full = `${parent === "/" ? "" : parent}/${prefix}${path.slice(cut + 1)}`;
    return await this.#call(
      options,
      async (signal) => {
        for (let attempt = 1;; attempt++) {
          try {
            return await this.#create(full, body, FLAGS[mode], acl, { signal });
          } catch (error) {
            if (!isZkError(error, "CONNECTIONLOSS") || attempt >= 3) throw error;
            // The create may have landed before the connection went: find it by its prefix.
            const children = await this.getChildren(parent, { signal });
            const mine = children.find((c) => c.startsWith(prefix));
            if (mine !== undefined) return `${parent === "/" ? "" : parent}/${mine}`;
          }
        }
      },
      "create",
      path,
    );
  }

  /**
   * Creates every missing node on `path` (persistent, empty), ignoring those that exist.
   *
   * @param path An absolute path.
   * @param options ACL, signal and time limit.
   */
  async ensurePath(path: string, options: ZkCallOptions & { acl?: readonly ZkAcl[] } = {}): Promise<void> {
    validatePath(path, false);
    await this.#call(
      options,
      async (signal) => {
        let at = "";
        for (const part of path.split("/").slice(1)) {
          at += `/${part}`;
          try {
            await this.#create(at, new Uint8Array(0), 0, options.acl ?? this.#acl, { signal });
          } catch (error) {
            if (!isZkError(error, "NODEEXISTS")) throw error;
          }
        }
      },
      "ensurePath",
      path,
    );
  }

  /**
   * Deletes a node.
   *
   * @param path The node.
   * @param options Expected version, signal and time limit.
   * @throws {ZkError} `NONODE`, `NOTEMPTY`, `BADVERSION`, `NOAUTH` ...
   */
  async delete(path: string, options: ZkVersionOptions = {}): Promise<void> {
    validatePath(path, false);
    const version = requireNumber(options.version ?? -1, "options.version", { min: -1, integer: true });
    await this.#request(
      OP.delete,
      "delete",
      path,
      (w) => w.string(path).int(version),
      () => undefined,
      options,
    );
  }

  /**
   * Returns a node's metadata, or `null` if it does not exist. The watch fires on creation, deletion
   * or a data change.
   *
   * @param path The node.
   * @param options Watch, signal and time limit.
   * @returns The metadata or `null`.
   */
  async exists(path: string, options: ZkWatchOptions = {}): Promise<ZkStat | null> {
    validatePath(path, false);
    try {
      return await this.#request(
        OP.exists,
        "exists",
        path,
        (w) => w.string(path).bool(!!options.watch),
        (r) => r.stat(),
        options,
        "exist",
      );
    } catch (error) {
      if (isZkError(error, "NONODE")) return null;
      throw error;
    }
  }

  /**
   * Returns a node's data and metadata. The watch fires on a data change or deletion.
   *
   * @param path The node.
   * @param options Watch, signal and time limit.
   * @returns Data and metadata.
   * @throws {ZkError} `NONODE`, `NOAUTH` ...
   */
  getData(path: string, options: ZkWatchOptions = {}): Promise<{ data: Uint8Array; stat: ZkStat }> {
    validatePath(path, false);
    return this.#request(
      OP.getData,
      "getData",
      path,
      (w) => w.string(path).bool(!!options.watch),
      (r) => ({
        data: r.buffer() ?? new Uint8Array(0),
        stat: r.stat(),
      }),
      options,
      "data",
    );
  }

  /**
   * Replaces a node's data.
   *
   * @param path The node.
   * @param data The new data.
   * @param options Expected version, signal and time limit.
   * @returns The new metadata.
   * @throws {ZkError} `NONODE`, `BADVERSION`, `NOAUTH` ...
   */
  setData(path: string, data: Uint8Array | string, options: ZkVersionOptions = {}): Promise<ZkStat> {
    validatePath(path, false);
    const version = requireNumber(options.version ?? -1, "options.version", { min: -1, integer: true });
    const body = bytes(data);
    return this.#request(
      OP.setData,
      "setData",
      path,
      (w) => w.string(path).buffer(body).int(version),
      (r) => r.stat(),
      options,
    );
  }

  /**
   * Returns the names of a node's children (unsorted). The watch fires when a child is added or
   * removed, or the node is deleted.
   *
   * @param path The node.
   * @param options Watch, signal and time limit.
   * @returns Child names.
   * @throws {ZkError} `NONODE`, `NOAUTH` ...
   */
  getChildren(path: string, options: ZkWatchOptions = {}): Promise<string[]> {
    validatePath(path, false);
    return this.#request(
      OP.getChildren,
      "getChildren",
      path,
      (w) => w.string(path).bool(!!options.watch),
      (r) => r.strings(),
      options,
      "child",
    );
  }

  /**
   * Returns a node's ACL.
   *
   * @param path The node.
   * @param options Signal and time limit.
   * @returns The ACL and metadata.
   */
  getACL(path: string, options: ZkCallOptions = {}): Promise<{ acl: ZkAcl[]; stat: ZkStat }> {
    validatePath(path, false);
    return this.#request(
      OP.getACL,
      "getACL",
      path,
      (w) => w.string(path),
      (r) => ({ acl: r.acls(), stat: r.stat() }),
      options,
    );
  }

  /**
   * Closes the session (its ephemeral nodes go at once) and the connection. Idempotent.
   *
   * @returns When everything has stopped.
   */
  close(): Promise<void> {
    return this.#session.close(Math.min(this.#timeout, 2_000));
  }

  /** Same as {@linkcode ZkClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #create(
    path: string,
    data: Uint8Array,
    flags: number,
    acl: readonly ZkAcl[],
    options: ZkCallOptions,
  ): Promise<string> {
    return this.#request(
      OP.create,
      "create",
      path,
      (w) => w.string(path).buffer(data).acls(acl).int(flags),
      (r) => r.string() ?? path,
      options,
    );
  }

  #request<T>(
    op: number,
    name: string,
    path: string,
    body: (w: Writer) => void,
    decode: (r: Reader) => T,
    options: ZkWatchOptions,
    kind?: WatchKind,
  ): Promise<T> {
    const watch = options.watch;
    if (watch !== undefined) requireFunction(watch, "options.watch");
    return this.#call(
      options,
      async (signal) => {
        const conn = await this.#session.ready(signal);
        const onReply = watch === undefined || kind === undefined ? undefined : (err: number) => {
          // exists() on a missing node still leaves a watch (for its creation).
          if (err === 0 || (err === -101 && kind === "exist")) this.#session.addWatch(kind, path, watch);
        };
        return await conn.request(op, name, path, body, decode, signal, onReply);
      },
      name,
      path,
    );
  }

  /**
   * Runs `fn` within the call's time limit. The caller's abort keeps its reason (as `fetch` does);
   * the time limit passing becomes a ZkError `REQUESTTIMEOUT` (the Java client's name for a request
   * it timed out itself), not a bare DOMException.
   */
  async #call<T>(
    options: ZkCallOptions,
    fn: (signal: AbortSignal) => Promise<T>,
    op: string,
    path?: string,
  ): Promise<T> {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    requireSignal(options.signal, "options.signal");
    const ms = requireNumber(options.timeout ?? this.#timeout, "options.timeout", { min: 1 });
    const dl = deadline(ms, options.signal);
    try {
      return await fn(dl.signal);
    } catch (error) {
      if (error !== dl.signal.reason || options.signal?.aborted) throw error;
      const where = path === undefined ? "" : ` ${JSON.stringify(path)}`;
      throw new ZkError(
        "REQUESTTIMEOUT",
        0,
        `ZooKeeper ${op}${where} failed: REQUESTTIMEOUT (no answer within ${ms} ms)`,
        path,
        error,
      );
    } finally {
      dl.clear();
    }
  }
}

export { ZkError, ZkSessionEvent };

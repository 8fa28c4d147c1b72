// The session behind a ZkClient: picks a server, connects, resumes the session on another server
// after a connection loss, starts a new one after expiry, keeps watches and tells the client what
// happened. Internal; the public surface is client.ts.
import { backoffDelay, type BackoffOptions, deadline, delay } from "../_async.ts";
import { describe, StoppedError } from "../errors.ts";
import type { Logger } from "../types.ts";
import { Connection, HandshakeRefused, ProtocolError } from "./_conn.ts";
import { OP } from "./_jute.ts";
import { detectConnect, type ZkConnect } from "./socket.ts";

/** What a watch reports; `lost` means the watch is gone (connection lost, session expired or closed). */
export type ZkWatchType = "created" | "deleted" | "changed" | "children" | "lost";

/** A watch notification. */
export interface ZkWatchEvent {
  /** What happened to the node. */
  readonly type: ZkWatchType;
  /** The node concerned. */
  readonly path: string;
}

/** A one-shot watch callback. */
export type ZkWatcher = (event: ZkWatchEvent) => void;

/** Session-level events a {@linkcode ZkClient} dispatches. */
export type ZkSessionEventType = "connected" | "disconnected" | "expired";

/**
 * Dispatched by a ZkClient: `connected` (a session was created or resumed on `server`),
 * `disconnected` (the connection was lost; the session may still be resumed), `expired` (the session
 * is gone with its ephemeral nodes and watches; a new one follows).
 */
export class ZkSessionEvent extends Event {
  /** The session id as 16 hex digits (the old session's for `expired`). */
  readonly sessionId: string;
  /** The server, as `host:port`, if one is concerned. */
  readonly server: string | undefined;
  /** Why the connection ended, for `disconnected`. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param type What happened.
   * @param sessionId The session id.
   * @param server The server concerned.
   * @param error The cause.
   */
  constructor(type: ZkSessionEventType, sessionId: bigint, server?: string, error?: unknown) {
    super(type);
    this.sessionId = hex(sessionId);
    this.server = server;
    this.error = error;
  }
}

/** The session id as 16 hex digits. */
export function hex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16).padStart(16, "0");
}

export interface SessionConfig {
  hosts: readonly { host: string; port: number }[];
  connect: ZkConnect | undefined;
  sessionTimeout: number;
  connectTimeout: number;
  maxFrame: number;
  auth: readonly { scheme: string; auth: Uint8Array }[];
  backoff: BackoffOptions;
  random: () => number;
  logger: Logger | undefined;
  emit(event: ZkSessionEvent): void;
}

class Expired extends Error {}

const WATCH_KINDS = ["data", "exist", "child"] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];
const FIRES: Record<number, [ZkWatchType, WatchKind[]]> = {
  1: ["created", ["data", "exist"]],
  2: ["deleted", ["data", "exist", "child"]],
  3: ["changed", ["data", "exist"]],
  4: ["children", ["child"]],
};

export class Session {
  readonly #c: SessionConfig;
  readonly #stop = new AbortController();
  readonly #watches: Record<WatchKind, Map<string, Set<ZkWatcher>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  readonly #waiters = new Set<{ resolve(c: Connection): void; reject(e: unknown): void }>();
  #state: "idle" | "connecting" | "connected" | "closed" = "idle";
  #conn: Connection | undefined;
  #sessionId = 0n;
  #passwd: Uint8Array = new Uint8Array(16);
  #negotiated = 0;
  #lastZxid = 0n;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #connect: ZkConnect | undefined;

  constructor(config: SessionConfig) {
    this.#c = config;
  }

  get state(): "idle" | "connecting" | "connected" | "closed" {
    return this.#state;
  }
  get sessionId(): bigint {
    return this.#sessionId;
  }
  get negotiatedTimeout(): number {
    return this.#negotiated;
  }
  get server(): string | undefined {
    return this.#state === "connected" ? this.#conn?.host : undefined;
  }

  /** Resolves with the live connection, connecting first if needed; rejects when `signal` aborts. */
  ready(signal: AbortSignal): Promise<Connection> {
    if (this.#state === "closed") return Promise.reject(new StoppedError("ZkClient"));
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#state === "connected" && this.#conn !== undefined && !this.#conn.ended) {
      return Promise.resolve(this.#conn);
    }
    if (this.#state === "idle") {
      this.#state = "connecting";
      this.#loop = this.#run();
    }
    return new Promise<Connection>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal.reason);
      };
      const waiter = {
        resolve: (c: Connection) => (signal.removeEventListener("abort", onAbort), resolve(c)),
        reject: (e: unknown) => (signal.removeEventListener("abort", onAbort), reject(e)),
      };
      this.#waiters.add(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Adds a one-shot watch (called synchronously when the reply that set it arrives). */
  addWatch(kind: WatchKind, path: string, watcher: ZkWatcher): void {
    const map = this.#watches[kind];
    let set = map.get(path);
    if (set === undefined) map.set(path, set = new Set());
    set.add(watcher);
  }

  /** Closes the session on the server (within `timeout`) and stops everything. Idempotent. */
  close(timeout: number): Promise<void> {
    this.#closing ??= this.#close(timeout);
    return this.#closing;
  }

  async #close(timeout: number): Promise<void> {
    const conn = this.#state === "connected" ? this.#conn : undefined;
    this.#state = "closed";
    this.#stop.abort(new StoppedError("ZkClient"));
    for (const w of this.#waiters) w.reject(new StoppedError("ZkClient"));
    this.#waiters.clear();
    if (conn !== undefined && !conn.ended) {
      const dl = deadline(timeout);
      try {
        await conn.request(OP.closeSession, "closeSession", undefined, () => {}, () => undefined, dl.signal);
      } catch (error) {
        this.#c.logger?.debug("ZooKeeper closeSession failed", { error: describe(error) });
      } finally {
        dl.clear();
      }
      conn.close(new ProtocolError("Session closed"));
    }
    this.#fireAll();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    const hosts = this.#c.hosts;
    let index = Math.floor(this.#c.random() * hosts.length) % hosts.length;
    let failures = 0;
    // Connect requests the servers hung up on unanswered, since the last session, while we carried a
    // zxid. A server refuses a client that has seen a newer zxid than it holds (its data was lost)
    // and would go on refusing for good; it also hangs up while not serving. Once every server has
    // refused, one connect asks without the zxid: a server that lost the data then answers that the
    // session is unknown (expired), one that is not serving hangs up again.
    let refusals = 0;
    while (!stop.aborted) {
      const target = hosts[index]!;
      index = (index + 1) % hosts.length;
      const probe = refusals >= hosts.length;
      let conn: Connection;
      try {
        conn = await this.#open(target.host, target.port, stop, probe);
      } catch (error) {
        if (stop.aborted) return;
        if (error instanceof Expired) {
          if (probe) this.#forgetZxid(target);
          refusals = 0;
          this.#expire();
          index = (index + hosts.length - 1) % hosts.length; // a new session on the same server
          continue;
        }
        if (error instanceof HandshakeRefused && this.#lastZxid > 0n) refusals = probe ? 0 : refusals + 1;
        failures++;
        this.#c.logger?.warn("ZooKeeper connection failed", {
          server: `${target.host}:${target.port}`,
          error: describe(error),
        });
        if (!(await this.#pause(failures, stop))) return;
        continue;
      }
      if (stop.aborted) return conn.close(new ProtocolError("Session closed"));
      refusals = 0;
      const since = Date.now();
      this.#conn = conn;
      this.#state = "connected";
      for (const w of this.#waiters) w.resolve(conn);
      this.#waiters.clear();
      this.#c.emit(new ZkSessionEvent("connected", this.#sessionId, conn.host));
      const reason = await conn.closed;
      if (this.#state as string === "closed") return;
      this.#state = "connecting";
      this.#conn = undefined;
      this.#fireAll();
      this.#c.logger?.warn("ZooKeeper connection lost", { server: conn.host, error: reason.message });
      this.#c.emit(new ZkSessionEvent("disconnected", this.#sessionId, conn.host, reason));
      // A connection that stayed up for a ping interval was healthy: retry at once (almost).
      failures = Date.now() - since >= this.#negotiated / 3 ? 1 : failures + 1;
      if (!(await this.#pause(failures, stop))) return;
    }
  }

  async #pause(failures: number, stop: AbortSignal): Promise<boolean> {
    try {
      await delay(backoffDelay(failures, this.#c.backoff, this.#c.random), stop);
      return true;
    } catch {
      return false;
    }
  }

  /** The servers' history no longer holds the zxid last seen: start over from theirs. */
  #forgetZxid(target: { host: string; port: number }): void {
    this.#c.logger?.warn("ZooKeeper servers refused the last zxid seen: their data was lost", {
      server: `${target.host}:${target.port}`,
      lastZxid: `0x${this.#lastZxid.toString(16)}`,
    });
    this.#lastZxid = 0n;
  }

  async #open(host: string, port: number, stop: AbortSignal, withoutZxid: boolean): Promise<Connection> {
    const dl = deadline(this.#c.connectTimeout, stop);
    try {
      const connect = this.#c.connect ?? (this.#connect ??= await detectConnect());
      const socket = await connect(host, port, { signal: dl.signal });
      const conn = new Connection(socket, `${host}:${port}`, this.#c.maxFrame, {
        zxid: (z) => {
          if (z > this.#lastZxid) this.#lastZxid = z;
        },
        notify: (type, state, path) => this.#notify(type, state, path),
      });
      try {
        if (dl.signal.aborted) throw dl.signal.reason;
        const h = await conn.handshake({
          lastZxid: withoutZxid ? 0n : this.#lastZxid,
          timeout: this.#c.sessionTimeout,
          sessionId: this.#sessionId,
          passwd: this.#passwd,
        }, dl.signal);
        if (h.timeout <= 0) throw new Expired(`Session ${hex(this.#sessionId)} expired`);
        this.#sessionId = h.sessionId;
        this.#passwd = h.passwd;
        this.#negotiated = h.timeout;
        conn.keepAlive(h.timeout);
        for (const a of this.#c.auth) {
          await conn.request(
            OP.auth,
            "auth",
            undefined,
            (w) => {
              w.int(0).string(a.scheme).buffer(a.auth);
            },
            () => undefined,
            dl.signal,
          );
        }
        return conn;
      } catch (error) {
        conn.close(error instanceof Error ? error : new ProtocolError(String(error)));
        throw error;
      }
    } finally {
      dl.clear();
    }
  }

  #expire(): void {
    const old = this.#sessionId;
    this.#sessionId = 0n;
    this.#passwd = new Uint8Array(16);
    this.#fireAll();
    this.#c.logger?.warn("ZooKeeper session expired; starting a new one", { sessionId: hex(old) });
    if (old !== 0n) this.#c.emit(new ZkSessionEvent("expired", old));
  }

  #notify(type: number, _state: number, path: string): void {
    const fires = FIRES[type];
    if (fires === undefined) return; // session state changes arrive as type -1 (None)
    const [name, kinds] = fires;
    const watchers = new Set<ZkWatcher>();
    for (const kind of kinds) {
      const set = this.#watches[kind].get(path);
      if (set === undefined) continue;
      this.#watches[kind].delete(path);
      for (const w of set) watchers.add(w);
    }
    for (const w of watchers) this.#call(w, { type: name, path });
  }

  /** Fires every watch as `lost`: the server forgets a connection's watches when it ends. */
  #fireAll(): void {
    const watchers: [ZkWatcher, string][] = [];
    for (const kind of WATCH_KINDS) {
      for (const [path, set] of this.#watches[kind]) for (const w of set) watchers.push([w, path]);
      this.#watches[kind].clear();
    }
    for (const [w, path] of watchers) this.#call(w, { type: "lost", path });
  }

  #call(watcher: ZkWatcher, event: ZkWatchEvent): void {
    try {
      watcher(event);
    } catch (error) {
      this.#c.logger?.error("ZooKeeper watcher threw", { error: describe(error) });
    }
  }
}

// One TCP connection to one ZooKeeper server: framing with a bounded length, the connect handshake,
// xid matching, pings at a third of the session timeout and a read timeout at two thirds. The
// session (hosts, reconnects, expiry, watches) lives in _session.ts. Internal.
import { JuteError, OP, Reader, Writer, XID } from "./_jute.ts";
import { ZkError } from "./errors.ts";
import type { ZkSocket } from "./socket.ts";

/** What the server answered to the connect request. */
export interface Handshake {
  /** Negotiated session timeout in ms; <= 0 means the session has expired. */
  timeout: number;
  sessionId: bigint;
  passwd: Uint8Array;
}

/** What a connection reports to its session. */
export interface ConnectionHooks {
  /** A watch notification (`type`, keeper `state`, server path). */
  notify(type: number, state: number, path: string): void;
  /** The zxid of a reply, to resume from after a reconnect. */
  zxid(zxid: bigint): void;
}

interface Pending {
  op: string;
  path: string | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  decode(reader: Reader): unknown;
  /** Runs synchronously with the reply's error code, before any later frame is handled. */
  onReply: ((err: number) => void) | undefined;
}

/** A malformed or unexpected frame, or a dead connection. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * The server hung up after the connect request without answering it. A server does that when it is
 * not serving, and when the client has seen a newer zxid than the server holds (its data was lost).
 */
export class HandshakeRefused extends ProtocolError {
  override name = "HandshakeRefused";
}

const noop = () => {};

/** One open connection; `closed` resolves with the reason once it has ended, whatever ended it. */
export class Connection {
  readonly host: string;
  readonly closed: Promise<Error>;
  readonly #socket: ZkSocket;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #maxFrame: number;
  readonly #hooks: ConnectionHooks;
  readonly #pending = new Map<number, Pending>();
  readonly #auths: Pending[] = [];
  #handshake: { resolve(h: Handshake): void; reject(e: unknown): void } | undefined;
  #ended: Error | undefined;
  #end!: (error: Error) => void;
  #xid = 1;
  #readTimeout = 0;
  #readTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(socket: ZkSocket, host: string, maxFrame: number, hooks: ConnectionHooks) {
    this.#socket = socket;
    this.host = host;
    this.#maxFrame = maxFrame;
    this.#hooks = hooks;
    this.closed = new Promise((resolve) => (this.#end = resolve));
    this.#writer = socket.writable.getWriter();
    this.#writer.closed.catch(noop);
    void this.#read();
  }

  /** Whether the connection has ended. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Sends the connect request and resolves with the server's answer. */
  handshake(
    request: { lastZxid: bigint; timeout: number; sessionId: bigint; passwd: Uint8Array },
    signal: AbortSignal,
  ): Promise<Handshake> {
    const frame = new Writer().int(0).long(request.lastZxid).int(request.timeout).long(request.sessionId)
      .buffer(request.passwd).bool(false).finish();
    return new Promise<Handshake>((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        this.close(new ProtocolError(`Handshake with ${this.host} aborted`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => signal.removeEventListener("abort", onAbort);
      this.#handshake = {
        resolve: (h) => (done(), resolve(h)),
        reject: (e) => (done(), reject(e)),
      };
      if (this.#ended) return this.#handshake.reject(this.#ended);
      this.#send(frame);
    });
  }

  /** Starts pings and the read timeout for a negotiated session timeout. */
  keepAlive(sessionTimeout: number): void {
    if (this.#ended) return;
    this.#readTimeout = Math.max(1, Math.floor((sessionTimeout * 2) / 3));
    this.#armRead();
    const ping = new Writer().int(XID.ping).int(OP.ping).finish();
    this.#pingTimer = setInterval(() => this.#send(ping), Math.max(1, Math.floor(sessionTimeout / 3)));
  }

  /**
   * Sends a request; resolves with `decode` applied to the reply body, rejects with a ZkError.
   * `xid` is normally allocated here; auth packets use the reserved one.
   */
  request<T>(
    op: number,
    name: string,
    path: string | undefined,
    body: (w: Writer) => void,
    decode: (r: Reader) => T,
    signal: AbortSignal,
    onReply?: (err: number) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#ended) return reject(lost(name, path, this.#ended));
      if (signal.aborted) return reject(signal.reason);
      const xid = op === OP.auth ? XID.auth : this.#xid++;
      if (this.#xid > 0x7fff_fff0) this.#xid = 1;
      const w = new Writer().int(xid).int(op);
      body(w);
      const onAbort = () => {
        // The reply will still come and must still be matched: keep the entry, silence it.
        entry.resolve = noop;
        entry.reject = noop;
        reject(signal.reason);
      };
      const entry: Pending = {
        op: name,
        path,
        resolve: (v) => (signal.removeEventListener("abort", onAbort), resolve(v as T)),
        reject: (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
        decode,
        onReply,
      };
      signal.addEventListener("abort", onAbort, { once: true });
      if (op === OP.auth) this.#auths.push(entry);
      else this.#pending.set(xid, entry);
      this.#send(w.finish());
    });
  }

  /** Ends the connection: pending requests fail with CONNECTIONLOSS. Idempotent. */
  close(reason: Error = new ProtocolError(`Connection to ${this.host} closed`)): void {
    if (this.#ended) return;
    this.#ended = reason;
    clearTimeout(this.#readTimer);
    clearInterval(this.#pingTimer);
    this.#handshake?.reject(reason);
    this.#handshake = undefined;
    const pending = [...this.#pending.values(), ...this.#auths];
    this.#pending.clear();
    this.#auths.length = 0;
    for (const p of pending) p.reject(lost(p.op, p.path, reason));
    this.#writer.releaseLock();
    this.#socket.close().catch(noop);
    this.#end(reason);
  }

  #send(frame: Uint8Array): void {
    if (this.#ended) return;
    this.#writing = this.#writing.then(() => this.#ended ? undefined : this.#writer.write(frame)).catch(
      (error: unknown) => this.close(new ProtocolError(`Write to ${this.host} failed: ${String(error)}`)),
    );
  }

  #armRead(): void {
    if (this.#readTimeout === 0) return;
    clearTimeout(this.#readTimer);
    this.#readTimer = setTimeout(() => {
      this.close(new ProtocolError(`No answer from ${this.host} for ${this.#readTimeout} ms`));
    }, this.#readTimeout);
  }

  async #read(): Promise<void> {
    let reader: ReadableStreamDefaultReader<Uint8Array>;
    try {
      reader = this.#socket.readable.getReader();
    } catch (error) {
      return this.close(new ProtocolError(`Cannot read from ${this.host}: ${String(error)}`));
    }
    void this.closed.then(() => reader.cancel().catch(noop));
    let buf: Uint8Array = new Uint8Array(0);
    try {
      while (!this.#ended) {
        const { value, done } = await reader.read();
        if (this.#ended) return;
        if (done) {
          if (this.#handshake !== undefined && buf.byteLength === 0) {
            throw new HandshakeRefused(
              `${this.host} closed the connection without answering the connect request`,
            );
          }
          throw new ProtocolError(
            buf.byteLength > 0
              ? `Connection to ${this.host} closed in the middle of a frame (${buf.byteLength} bytes buffered)`
              : `Connection to ${this.host} closed by the server`,
          );
        }
        if (value.byteLength === 0) continue;
        this.#armRead();
        buf = concat(buf, value);
        let offset = 0;
        while (buf.byteLength - offset >= 4 && !this.#ended) {
          const len = new DataView(buf.buffer, buf.byteOffset + offset, 4).getInt32(0);
          if (len < 0 || len > this.#maxFrame) {
            throw new ProtocolError(
              `Frame length ${len} from ${this.host} is outside 0..${this.#maxFrame} (maxFrameBytes)`,
            );
          }
          if (buf.byteLength - offset - 4 < len) break;
          this.#frame(buf.subarray(offset + 4, offset + 4 + len));
          offset += 4 + len;
        }
        buf = offset === buf.byteLength ? new Uint8Array(0) : buf.slice(offset);
      }
    } catch (error) {
      const reason = error instanceof ProtocolError
        ? error
        : error instanceof JuteError
        ? new ProtocolError(`Malformed frame from ${this.host}: ${error.message}`)
        : new ProtocolError(`Read from ${this.host} failed: ${String(error)}`);
      this.close(reason);
    }
  }

  #frame(body: Uint8Array): void {
    const r = new Reader(body);
    if (this.#handshake !== undefined) {
      r.int(); // protocol version
      const h: Handshake = {
        timeout: r.int(),
        sessionId: r.long(),
        passwd: r.buffer() ?? new Uint8Array(16),
      };
      const hs = this.#handshake;
      this.#handshake = undefined;
      hs.resolve(h);
      return;
    }
    const xid = r.int();
    const zxid = r.long();
    const err = r.int();
    if (zxid > 0n) this.#hooks.zxid(zxid);
    if (xid === XID.notification) {
      const type = r.int();
      const state = r.int();
      this.#hooks.notify(type, state, r.string() ?? "");
      return;
    }
    if (xid === XID.ping) return;
    const entry = xid === XID.auth ? this.#auths.shift() : this.#pending.get(xid);
    if (entry === undefined) throw new ProtocolError(`Reply from ${this.host} with unknown xid ${xid}`);
    this.#pending.delete(xid);
    entry.onReply?.(err);
    if (err !== 0) return entry.reject(ZkError.fromNumber(err, entry.op, entry.path));
    let value: unknown;
    try {
      value = entry.decode(r);
    } catch (error) {
      entry.reject(lost(entry.op, entry.path, error as Error));
      throw error;
    }
    entry.resolve(value);
  }
}

function lost(op: string, path: string | undefined, cause: Error): ZkError {
  const where = path === undefined ? "" : ` ${JSON.stringify(path)}`;
  return new ZkError(
    "CONNECTIONLOSS",
    -4,
    `ZooKeeper ${op}${where} failed: CONNECTIONLOSS (${cause.message})`,
    path,
    cause,
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

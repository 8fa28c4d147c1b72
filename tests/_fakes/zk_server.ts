// An in-process ZooKeeper server on 127.0.0.1 for unit tests: enough of the protocol for the client,
// instancer and registrar (sessions, create/delete/exists/getData/setData/getChildren, watches, auth,
// closeSession), and switchable misbehaviour for fault injection. Not a model of ZooKeeper's
// consistency; real-server behaviour is covered by tests/integration/zk_test.ts.
import { Reader, Writer } from "../../src/zk/_jute.ts";

/** What the server does to the next request's reply (then it behaves again). */
export type Misbehaviour = "garbage" | "cut" | "oversized" | "silent" | "expire";

interface Node {
  data: Uint8Array;
  ephemeralOwner: bigint;
  version: number;
  cversion: number;
  seq: number;
}

interface Session {
  id: bigint;
  passwd: Uint8Array;
  timeout: number;
  conn: Conn | undefined;
}

interface Conn {
  socket: Deno.Conn;
  session: Session | undefined;
  silent: boolean;
  writing: Promise<void>;
  writer?: WritableStreamDefaultWriter<Uint8Array>;
}

const NONODE = -101, NODEEXISTS = -110, NOTEMPTY = -111;

/** The fake server. `close()` in a `finally`. */
export class FakeZkServer {
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly nodes = new Map<string, Node>([["/", blank(0n)]]);
  readonly #sessions = new Map<bigint, Session>();
  readonly #conns = new Set<Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #childWatches = new Map<string, Set<Conn>>();
  readonly #dataWatches = new Map<string, Set<Conn>>();
  #nextSession = 0x100n;
  #zxid = 1n;
  /** Applied to the next request (not handshake, not ping). */
  misbehave: Misbehaviour | undefined;
  /** False: hang up on every connect request unanswered, as a server that is not serving does. */
  serving = true;
  /** Session timeout granted; default: what the client asks for. */
  grantTimeout: number | undefined;
  /** Every connect request seen: the session id asked for (0n = new). */
  readonly connects: bigint[] = [];
  /** Auth packets seen, as `scheme:auth`. */
  readonly auths: string[] = [];

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#track(this.#accept());
  }

  /** `127.0.0.1:port`. */
  get address(): string {
    return `127.0.0.1:${this.#listener.addr.port}`;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Drops every connection (sessions survive). */
  dropConnections(): void {
    for (const c of this.#conns) this.#closeConn(c);
  }

  /** Expires every session: ephemeral nodes go, connections drop, resumes are refused. */
  expireSessions(): void {
    for (const s of [...this.#sessions.values()]) this.#expire(s);
  }

  /**
   * Loses every node, session and watch and starts the history over (a server restarted on an empty
   * data dir); open connections drop. Like ZooKeeper it then refuses, unanswered, a client that has
   * seen a newer zxid than its own.
   */
  wipe(): void {
    this.dropConnections();
    this.#sessions.clear();
    this.#childWatches.clear();
    this.#dataWatches.clear();
    this.nodes.clear();
    this.nodes.set("/", blank(0n));
    this.#zxid = 1n;
  }

  /** The last zxid the server gave out. */
  get zxid(): bigint {
    return this.#zxid;
  }

  /** Stops listening and drops everything; waits for its tasks. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    this.dropConnections();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(p: Promise<void>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  async #accept(): Promise<void> {
    try {
      for await (const socket of this.#listener) {
        const conn: Conn = { socket, session: undefined, silent: false, writing: Promise.resolve() };
        this.#conns.add(conn);
        this.#track(this.#serve(conn));
      }
    } catch { /* listener closed */ }
  }

  #closeConn(c: Conn): void {
    if (!this.#conns.delete(c)) return;
    for (const set of [...this.#childWatches.values(), ...this.#dataWatches.values()]) set.delete(c);
    if (c.session?.conn === c) c.session.conn = undefined;
    try {
      c.socket.close();
    } catch { /* closed */ }
  }

  #expire(s: Session): void {
    this.#sessions.delete(s.id);
    for (const [path, node] of [...this.nodes]) {
      if (node.ephemeralOwner === s.id) this.#remove(path);
    }
    if (s.conn) this.#closeConn(s.conn);
  }

  async #serve(c: Conn): Promise<void> {
    let buf = new Uint8Array(0);
    try {
      for await (const chunk of c.socket.readable) {
        const next = new Uint8Array(buf.byteLength + chunk.byteLength);
        next.set(buf);
        next.set(chunk, buf.byteLength);
        buf = next;
        while (buf.byteLength >= 4) {
          const len = new DataView(buf.buffer, buf.byteOffset).getInt32(0);
          if (buf.byteLength < 4 + len) break;
          const frame = buf.slice(4, 4 + len);
          buf = buf.slice(4 + len);
          await this.#handle(c, new Reader(frame));
          if (!this.#conns.has(c)) return;
        }
      }
    } catch {
      // the connection was closed
    } finally {
      this.#closeConn(c);
    }
  }

  #write(c: Conn, bytes: Uint8Array): Promise<void> {
    // One writer per connection, writes in order (replies and notifications interleave).
    c.writing = c.writing.then(async () => {
      if (c.silent || !this.#conns.has(c)) return;
      c.writer ??= c.socket.writable.getWriter();
      await c.writer.write(bytes);
    }).catch(() => {});
    return c.writing;
  }

  async #handle(c: Conn, r: Reader): Promise<void> {
    if (c.session === undefined) {
      r.int();
      const lastZxid = r.long();
      const timeout = r.int();
      const id = r.long();
      const passwd = r.buffer() ?? new Uint8Array(16);
      this.connects.push(id);
      // ZooKeeper: "Refusing session request ... as it has seen zxid ..., our last zxid is ...".
      if (!this.serving || lastZxid > this.#zxid) return this.#closeConn(c);
      let s = id === 0n ? undefined : this.#sessions.get(id);
      if (id !== 0n && (s === undefined || !same(s.passwd, passwd))) {
        await this.#write(c, new Writer().int(0).int(0).long(0n).buffer(new Uint8Array(16)).finish());
        return this.#closeConn(c);
      }
      if (s === undefined) {
        s = { id: this.#nextSession++, passwd: crypto.getRandomValues(new Uint8Array(16)), timeout, conn: c };
        s.timeout = this.grantTimeout ?? timeout;
        this.#sessions.set(s.id, s);
      }
      if (s.conn && s.conn !== c) this.#closeConn(s.conn);
      s.conn = c;
      c.session = s;
      await this.#write(c, new Writer().int(0).int(s.timeout).long(s.id).buffer(s.passwd).finish());
      return;
    }
    const xid = r.int();
    const op = r.int();
    if (op === 11) return await this.#write(c, reply(xid, 0n, 0).finish());
    const mis = this.misbehave;
    this.misbehave = undefined;
    if (mis === "silent") {
      c.silent = true;
      return;
    }
    if (mis === "garbage") {
      await this.#write(c, new Writer().int(424242).long(1n).int(0).int(7).finish());
      return;
    }
    if (mis === "oversized") {
      await this.#write(c, new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
      return;
    }
    if (mis === "cut") {
      const full = reply(xid, 1n, 0).string("/cut").finish();
      await this.#write(c, full.subarray(0, full.byteLength - 3));
      return this.#closeConn(c);
    }
    if (mis === "expire") return this.#expire(c.session);
    const out = this.#op(c, xid, op, r);
    if (out !== undefined) await this.#write(c, out);
    if (op === -11) {
      this.#expire(c.session);
    }
  }

  #op(c: Conn, xid: number, op: number, r: Reader): Uint8Array | undefined {
    const zxid = ++this.#zxid;
    const fail = (err: number) => reply(xid, zxid, err).finish();
    switch (op) {
      case -11:
        return reply(xid, zxid, 0).finish();
      case 100: {
        r.int();
        const scheme = r.string();
        const auth = new TextDecoder().decode(r.buffer() ?? new Uint8Array());
        this.auths.push(`${scheme}:${auth}`);
        return reply(-4, 0n, 0).finish();
      }
      case 1: {
        let path = r.string()!;
        const data = r.buffer() ?? new Uint8Array();
        r.acls();
        const flags = r.int();
        const parentPath = parentOf(path);
        const parent = this.nodes.get(parentPath);
        if (!parent) return fail(NONODE);
        if (flags & 2) path += String(parent.seq++).padStart(10, "0");
        if (this.nodes.has(path)) return fail(NODEEXISTS);
        const node = blank(flags & 1 ? c.session!.id : 0n);
        node.data = data;
        this.nodes.set(path, node);
        parent.cversion++;
        this.#fire(this.#childWatches, parentPath, 4);
        this.#fire(this.#dataWatches, path, 1);
        return reply(xid, zxid, 0).string(path).finish();
      }
      case 2: {
        const path = r.string()!;
        if (!this.nodes.has(path)) return fail(NONODE);
        if ([...this.nodes.keys()].some((p) => parentOf(p) === path && p !== "/")) return fail(NOTEMPTY);
        this.#remove(path);
        return reply(xid, zxid, 0).finish();
      }
      case 3:
      case 4: {
        const path = r.string()!;
        const watch = r.bool();
        const node = this.nodes.get(path);
        if (watch && (node || op === 3)) add(this.#dataWatches, path, c);
        if (!node) return fail(NONODE);
        const w = reply(xid, zxid, 0);
        if (op === 4) w.buffer(node.data);
        return stat(w, node).finish();
      }
      case 5: {
        const path = r.string()!;
        const data = r.buffer() ?? new Uint8Array();
        const node = this.nodes.get(path);
        if (!node) return fail(NONODE);
        node.data = data;
        node.version++;
        this.#fire(this.#dataWatches, path, 3);
        return stat(reply(xid, zxid, 0), node).finish();
      }
      case 8: {
        const path = r.string()!;
        const watch = r.bool();
        if (!this.nodes.has(path)) return fail(NONODE);
        if (watch) add(this.#childWatches, path, c);
        const kids = [...this.nodes.keys()].filter((p) => p !== "/" && parentOf(p) === path)
          .map((p) => p.slice(path === "/" ? 1 : path.length + 1));
        return reply(xid, zxid, 0).strings(kids).finish();
      }
      default:
        return fail(-6);
    }
  }

  #remove(path: string): void {
    this.nodes.delete(path);
    const parentPath = parentOf(path);
    const parent = this.nodes.get(parentPath);
    if (parent) parent.cversion++;
    this.#fire(this.#dataWatches, path, 2);
    this.#fire(this.#childWatches, parentPath, 4);
  }

  #fire(map: Map<string, Set<Conn>>, path: string, type: number): void {
    const set = map.get(path);
    if (!set) return;
    map.delete(path);
    for (const c of set) {
      void this.#write(c, reply(-1, -1n, 0).int(type).int(3).string(path).finish());
    }
  }
}

function blank(owner: bigint): Node {
  return { data: new Uint8Array(), ephemeralOwner: owner, version: 0, cversion: 0, seq: 0 };
}
function reply(xid: number, zxid: bigint, err: number): Writer {
  return new Writer().int(xid).long(zxid).int(err);
}
function stat(w: Writer, n: Node): Writer {
  return w.long(1n).long(1n).long(0n).long(0n).int(n.version).int(n.cversion).int(0).long(n.ephemeralOwner)
    .int(n.data.byteLength).int(0).long(1n);
}
function add(map: Map<string, Set<Conn>>, path: string, c: Conn): void {
  let set = map.get(path);
  if (!set) map.set(path, set = new Set());
  set.add(c);
}
function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

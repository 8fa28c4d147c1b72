// ZooKeeper's wire encoding (jute): big-endian integers, length-prefixed strings and buffers (-1 for
// null), counted vectors, one-byte booleans; plus the record layouts and opcodes the client uses.
// Internal.

/** Operation codes of the requests the client sends. */
export const OP = {
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  getChildren: 8,
  ping: 11,
  getChildren2: 12,
  create2: 15,
  auth: 100,
  closeSession: -11,
} as const;

/** Reserved xids: watch notifications, pings and auth replies. */
export const XID = { notification: -1, ping: -2, auth: -4 } as const;

/** An access control entry: permissions for an identity under a scheme. */
export interface ZkAcl {
  /** A bit set of {@linkcode ZkPerms}. */
  readonly perms: number;
  /** `world`, `auth`, `digest`, `ip` ... */
  readonly scheme: string;
  /** The identity within the scheme (`anyone`, `user:base64(sha1(user:password))` ...). */
  readonly id: string;
}

/** A znode's metadata. 64-bit transaction ids and the session id stay bigints. */
export interface ZkStat {
  /** Transaction that created the node. */
  readonly czxid: bigint;
  /** Transaction that last changed its data. */
  readonly mzxid: bigint;
  /** Creation time, ms since the epoch. */
  readonly ctime: number;
  /** Last modification time, ms since the epoch. */
  readonly mtime: number;
  /** Data version. */
  readonly version: number;
  /** Children version. */
  readonly cversion: number;
  /** ACL version. */
  readonly aversion: number;
  /** Owning session of an ephemeral node, `0n` otherwise. */
  readonly ephemeralOwner: bigint;
  /** Bytes of data. */
  readonly dataLength: number;
  /** Number of children. */
  readonly numChildren: number;
  /** Transaction that last changed the children. */
  readonly pzxid: bigint;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Builds one request body; `finish()` prepends the frame length. */
export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 4; // room for the frame length

  #room(n: number): void {
    if (this.#len + n <= this.#buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.#buf.byteLength * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  int(v: number): this {
    this.#room(4);
    this.#view.setInt32(this.#len, v);
    this.#len += 4;
    return this;
  }
  long(v: bigint): this {
    this.#room(8);
    this.#view.setBigInt64(this.#len, v);
    this.#len += 8;
    return this;
  }
  bool(v: boolean): this {
    this.#room(1);
    this.#buf[this.#len++] = v ? 1 : 0;
    return this;
  }
  buffer(v: Uint8Array | null): this {
    if (v === null) return this.int(-1);
    this.int(v.byteLength);
    this.#room(v.byteLength);
    this.#buf.set(v, this.#len);
    this.#len += v.byteLength;
    return this;
  }
  string(v: string | null): this {
    return this.buffer(v === null ? null : encoder.encode(v));
  }
  strings(v: readonly string[]): this {
    this.int(v.length);
    for (const s of v) this.string(s);
    return this;
  }
  acls(v: readonly ZkAcl[]): this {
    this.int(v.length);
    for (const a of v) this.int(a.perms).string(a.scheme).string(a.id);
    return this;
  }
  /** The frame: length prefix and body. */
  finish(): Uint8Array {
    this.#view.setInt32(0, this.#len - 4);
    return this.#buf.slice(0, this.#len);
  }
}

/** Thrown by {@linkcode Reader} on a body that does not parse; the connection is then unusable. */
export class JuteError extends Error {
  override name = "JuteError";
}

/** Reads one frame body. Every read checks bounds. */
export class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.#buf.byteLength - this.#pos;
  }
  #need(n: number, what: string): void {
    if (n < 0 || this.#pos + n > this.#buf.byteLength) {
      throw new JuteError(
        `Truncated ${what}: need ${n} bytes at offset ${this.#pos} of ${this.#buf.byteLength}`,
      );
    }
  }
  int(): number {
    this.#need(4, "int");
    const v = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return v;
  }
  long(): bigint {
    this.#need(8, "long");
    const v = this.#view.getBigInt64(this.#pos);
    this.#pos += 8;
    return v;
  }
  bool(): boolean {
    this.#need(1, "boolean");
    return this.#buf[this.#pos++] !== 0;
  }
  buffer(): Uint8Array | null {
    const n = this.int();
    if (n === -1) return null;
    if (n < -1) throw new JuteError(`Negative length ${n}`);
    this.#need(n, "buffer");
    const v = this.#buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
  string(): string | null {
    const b = this.buffer();
    if (b === null) return null;
    try {
      return decoder.decode(b);
    } catch {
      throw new JuteError("String is not valid UTF-8");
    }
  }
  strings(): string[] {
    const n = this.int();
    if (n === -1) return [];
    // Each string takes at least 4 bytes: refuse counts the frame cannot hold before allocating.
    if (n < -1 || n * 4 > this.remaining) throw new JuteError(`Bad vector length ${n}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string() ?? "");
    return out;
  }
  acls(): ZkAcl[] {
    const n = this.int();
    if (n === -1) return [];
    if (n < -1 || n * 12 > this.remaining) throw new JuteError(`Bad ACL vector length ${n}`);
    const out: ZkAcl[] = [];
    for (let i = 0; i < n; i++) {
      out.push({ perms: this.int(), scheme: this.string() ?? "", id: this.string() ?? "" });
    }
    return out;
  }
  stat(): ZkStat {
    return {
      czxid: this.long(),
      mzxid: this.long(),
      ctime: Number(this.long()),
      mtime: Number(this.long()),
      version: this.int(),
      cversion: this.int(),
      aversion: this.int(),
      ephemeralOwner: this.long(),
      dataLength: this.int(),
      numChildren: this.int(),
      pzxid: this.long(),
    };
  }
}

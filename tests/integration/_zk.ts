// Helpers for tests against the real ZooKeeper of scripts/servers/zookeeper.sh: four-letter words and
// a minimal client of the binary protocol over Deno.connect (enough to document the wire format the
// backend implements), the zkCli.sh command line for setup and inspection, the script's stop/start
// commands, and a lock shared by every ZooKeeper test process.
//
// Wire format (jute): every frame is a 4-byte big-endian length, then the record. int = 4 bytes,
// long = 8 bytes, both big-endian two's complement; bool = 1 byte; string and buffer = int length
// (-1 for null) then the bytes. The first frame of a connection is a ConnectRequest, answered by a
// ConnectResponse; every later request starts with RequestHeader {int xid, int type} and every
// reply with ReplyHeader {int xid, long zxid, int err}.

import { serverScript, withServerLock } from "./_server.ts";
/** zkCli.sh of the Debian package (it is not on PATH); SD_ZK_CLI overrides it. */
const CLI = Deno.env.get("SD_ZK_CLI")?.trim() || "/usr/share/zookeeper/bin/zkCli.sh";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Operation codes (the RequestHeader `type`) used here. */
export const OpCode = { create: 1, exists: 3, getChildren: 8, ping: 11, closeSession: -11 } as const;

/** Error codes in ReplyHeader `err`. */
export const ZkError = { ok: 0, noNode: -101, nodeExists: -110, sessionExpired: -112 } as const;

/** CreateMode flags. */
export const CreateFlag = { persistent: 0, ephemeral: 1, sequential: 2 } as const;

/** "host:port" to Deno.connect options. */
export function hostPort(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { hostname: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** SD_ZK_ENSEMBLE as a list of "host:port", member 1 first. */
export function ensembleMembers(value: string): string[] {
  return value.split(",").map((a) => a.trim()).filter((a) => a !== "");
}

/** A top-level znode path no other test (or earlier run) uses. */
export function uniquePath(name: string): string {
  return `/sd-test-${name}-${crypto.randomUUID().slice(0, 8)}`;
}

// --- encoding ------------------------------------------------------------------------------------

/** Builds a jute record. */
export class Writer {
  #bytes: number[] = [];

  #fixed(size: number, set: (view: DataView) => void): this {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.#bytes.push(...b);
    return this;
  }

  int = (v: number): this => this.#fixed(4, (d) => d.setInt32(0, v));
  long = (v: bigint): this => this.#fixed(8, (d) => d.setBigInt64(0, v));
  bool = (v: boolean): this => this.#fixed(1, (d) => d.setUint8(0, v ? 1 : 0));
  string = (v: string): this => this.buffer(encoder.encode(v));

  buffer(value: Uint8Array | null): this {
    if (value === null) return this.int(-1);
    this.int(value.length).#bytes.push(...value);
    return this;
  }

  /** The record with its length prefix: one frame. */
  frame(): Uint8Array {
    const out = new Uint8Array(4 + this.#bytes.length);
    new DataView(out.buffer).setInt32(0, this.#bytes.length);
    out.set(this.#bytes, 4);
    return out;
  }
}

/** Reads a jute record; throws RangeError past its end. */
export class Reader {
  #view: DataView;
  #at = 0;

  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  #fixed<T>(size: number, get: (view: DataView, at: number) => T): T {
    const v = get(this.#view, this.#at); // DataView throws RangeError past the end
    this.#at += size;
    return v;
  }

  int = (): number => this.#fixed(4, (d, at) => d.getInt32(at));
  long = (): bigint => this.#fixed(8, (d, at) => d.getBigInt64(at));
  bool = (): boolean => this.#fixed(1, (d, at) => d.getUint8(at) !== 0);

  buffer(): Uint8Array | null {
    const n = this.int();
    if (n < 0) return null;
    if (n > this.remaining) throw new RangeError(`buffer of ${n} bytes but ${this.remaining} left`);
    return this.#fixed(n, () => this.bytes.slice(this.#at, this.#at + n));
  }

  string(): string | null {
    const b = this.buffer();
    return b === null ? null : decoder.decode(b);
  }
}

/** The fields of a ConnectRequest. */
export interface ConnectRequest {
  protocolVersion?: number;
  lastZxidSeen?: bigint;
  timeoutMs: number;
  sessionId?: bigint;
  passwd?: Uint8Array;
  readOnly?: boolean;
}

/** ConnectRequest frame: int protocolVersion, long lastZxidSeen, int timeOut, long sessionId, buffer passwd, bool readOnly. */
export function connectRequest(r: ConnectRequest): Uint8Array {
  return new Writer().int(r.protocolVersion ?? 0).long(r.lastZxidSeen ?? 0n).int(r.timeoutMs)
    .long(r.sessionId ?? 0n).buffer(r.passwd ?? new Uint8Array(16)).bool(r.readOnly ?? false).frame();
}

/** A parsed ConnectResponse. `timeoutMs` 0 and `sessionId` 0 mean the session has expired. */
export interface ConnectResponse {
  protocolVersion: number;
  timeoutMs: number;
  sessionId: bigint;
  passwd: Uint8Array;
  readOnly: boolean;
  /** Length of the record without its length prefix. */
  length: number;
}

/** ConnectResponse: int protocolVersion, int timeOut, long sessionId, buffer passwd, bool readOnly. */
export function parseConnectResponse(record: Uint8Array): ConnectResponse {
  const r = new Reader(record);
  const response = {
    protocolVersion: r.int(),
    timeoutMs: r.int(),
    sessionId: r.long(),
    passwd: r.buffer() ?? new Uint8Array(),
    readOnly: r.bool(),
    length: record.length,
  };
  if (r.remaining !== 0) throw new RangeError(`${r.remaining} unexpected bytes after ConnectResponse`);
  return response;
}

/** A request frame: RequestHeader {xid, type}, then the body written by `body`. */
export function request(xid: number, type: number, body: (w: Writer) => Writer = (w) => w): Uint8Array {
  return body(new Writer().int(xid).int(type)).frame();
}

/** The open ACL: world:anyone with every permission (READ|WRITE|CREATE|DELETE|ADMIN = 31). */
export function openAcl(w: Writer): Writer {
  return w.int(1).int(31).string("world").string("anyone");
}

/**
 * Stat, the metadata of a znode (exists, getData, setData answers). `ephemeralOwner` is the session
 * that owns an ephemeral node, 0 for a persistent one.
 */
export type Stat = ReturnType<typeof readStat>;

export function readStat(r: Reader) {
  return {
    czxid: r.long(),
    mzxid: r.long(),
    ctime: r.long(),
    mtime: r.long(),
    version: r.int(),
    cversion: r.int(),
    aversion: r.int(),
    ephemeralOwner: r.long(),
    dataLength: r.int(),
    numChildren: r.int(),
    pzxid: r.long(),
  };
}

// --- a connection --------------------------------------------------------------------------------

/** A reply: ReplyHeader, then the body (read it with `body`). */
export interface Reply {
  xid: number;
  zxid: bigint;
  err: number;
  body: Reader;
}

/** One TCP connection to a ZooKeeper server; every read is bounded by `timeoutMs`. */
export class ZkConnection {
  #buffered = new Uint8Array(0);

  private constructor(readonly conn: Deno.TcpConn, readonly timeoutMs: number) {}

  static async open(address: string, timeoutMs = 5000): Promise<ZkConnection> {
    return new ZkConnection(await Deno.connect({ ...hostPort(address), transport: "tcp" }), timeoutMs);
  }

  async send(frame: Uint8Array): Promise<void> {
    let sent = 0;
    while (sent < frame.length) sent += await this.conn.write(frame.subarray(sent));
  }

  /** Reads more bytes; false at EOF. Closes the connection (failing the read) after the timeout. */
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(4096);
    const timer = setTimeout(() => this.close(), this.timeoutMs);
    try {
      const n = await this.conn.read(chunk);
      if (n === null) return false;
      const joined = new Uint8Array(this.#buffered.length + n);
      joined.set(this.#buffered);
      joined.set(chunk.subarray(0, n), this.#buffered.length);
      this.#buffered = joined;
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  async #take(n: number): Promise<Uint8Array> {
    while (this.#buffered.length < n) {
      if (!await this.#fill()) {
        throw new Error(`connection closed with ${this.#buffered.length}/${n} bytes read`);
      }
    }
    const out = this.#buffered.slice(0, n);
    this.#buffered = this.#buffered.slice(n);
    return out;
  }

  /** The next frame's record (without the length prefix). */
  async readFrame(): Promise<Uint8Array> {
    const length = new DataView((await this.#take(4)).buffer).getInt32(0);
    if (length < 0 || length > 1 << 20) throw new RangeError(`bad frame length ${length}`);
    return await this.#take(length);
  }

  async reply(): Promise<Reply> {
    const r = new Reader(await this.readFrame());
    return { xid: r.int(), zxid: r.long(), err: r.int(), body: r };
  }

  /** Sends a ConnectRequest and parses the answer. */
  async handshake(r: ConnectRequest): Promise<ConnectResponse> {
    await this.send(connectRequest(r));
    return parseConnectResponse(await this.readFrame());
  }

  /** True once the server has closed its side (EOF with nothing left unread). */
  async closedByPeer(): Promise<boolean> {
    if (this.#buffered.length > 0) return false;
    try {
      return !await this.#fill();
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionReset) return true; // a killed server's kernel resets
      throw e;
    }
  }

  /** Text sent until the server closes (four-letter words). */
  async readAll(): Promise<string> {
    while (await this.#fill()) { /* keep reading */ }
    const text = decoder.decode(this.#buffered);
    this.#buffered = new Uint8Array(0);
    return text;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** create (type 1): path, data, open ACL, flags. Answers the created path, or undefined with `err`. */
export async function create(
  connection: ZkConnection,
  xid: number,
  path: string,
  data: string,
  flags: number,
): Promise<{ err: number; path: string | undefined }> {
  await connection.send(
    request(xid, OpCode.create, (w) => openAcl(w.string(path).string(data)).int(flags)),
  );
  const reply = await connection.reply();
  if (reply.xid !== xid) throw new Error(`reply xid ${reply.xid} to request ${xid}`);
  return { err: reply.err, path: reply.err === 0 ? reply.body.string() ?? undefined : undefined };
}

/** exists (type 3) without a watch: the Stat, or undefined for NONODE (whose reply has no body). */
export async function exists(connection: ZkConnection, xid: number, path: string): Promise<Stat | undefined> {
  await connection.send(request(xid, OpCode.exists, (w) => w.string(path).bool(false)));
  const reply = await connection.reply();
  if (reply.xid !== xid) throw new Error(`reply xid ${reply.xid} to request ${xid}`);
  if (reply.err === ZkError.noNode && reply.body.remaining === 0) return undefined;
  if (reply.err !== 0) throw new Error(`exists ${path} failed with error ${reply.err}`);
  return readStat(reply.body);
}

/** closeSession (type -11, no body): returns the reply; the server then closes the connection. */
export async function closeSession(connection: ZkConnection, xid: number): Promise<Reply> {
  await connection.send(request(xid, OpCode.closeSession));
  return await connection.reply();
}

/** Opens a connection with a new session (or resumes `resume`); the caller closes it. */
export async function openSession(
  address: string,
  timeoutMs = 4000,
  resume?: { sessionId: bigint; passwd: Uint8Array },
): Promise<{ connection: ZkConnection; session: ConnectResponse }> {
  const connection = await ZkConnection.open(address);
  try {
    const session = await connection.handshake({ timeoutMs, ...resume });
    return { connection, session };
  } catch (e) {
    connection.close();
    throw e;
  }
}

/** Sends a four-letter word and returns the whole answer (the server closes after it). */
export async function fourLetter(address: string, word: string): Promise<string> {
  using connection = await ZkConnection.open(address);
  await connection.send(encoder.encode(word));
  return await connection.readAll();
}

/** The `Mode:` line of `srvr`: standalone, leader or follower; undefined while not serving. */
export async function serverMode(address: string): Promise<string | undefined> {
  return /^Mode: (\w+)$/m.exec(await fourLetter(address, "srvr"))?.[1];
}

// --- the zkCli.sh command line -------------------------------------------------------------------

/** What a zkCli.sh run printed. Results go to stdout, errors such as "Node does not exist" to stderr. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one zkCli.sh command (`create /p data`, `ls /p`, `get /p`, `deleteall /p`, ...) against `server`.
 * Each run is a JVM start (about 0.7 s). A one-shot zkCli exits without closing its session, which
 * then lingers until its timeout: do not use it to create ephemeral nodes.
 */
export async function zkCli(server: string, ...command: string[]): Promise<CliResult> {
  const abort = new AbortController(); // kills zkCli after 30 s
  const timer = setTimeout(() => abort.abort(), 30_000);
  try {
    const { code, stdout, stderr } = await new Deno.Command(CLI, {
      args: ["-server", server, ...command],
      env: { JVMFLAGS: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const text = new TextDecoder();
    return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** `ls PATH` through zkCli: the children, or undefined when the node does not exist. */
export async function cliChildren(server: string, path: string): Promise<string[] | undefined> {
  const out = await zkCli(server, "ls", path);
  if (out.stderr.includes("Node does not exist")) return undefined;
  const line = out.stdout.trimEnd().split("\n").at(-1) ?? "";
  const list = /^\[(.*)\]$/.exec(line);
  if (out.code !== 0 || !list) {
    throw new Error(`zkCli ls ${path} failed (${out.code}):\n${out.stdout}${out.stderr}`);
  }
  return list[1] === "" ? [] : list[1]!.split(", ");
}

/** `create PATH DATA` through zkCli (a persistent node); throws unless zkCli reports it created. */
export async function cliCreate(server: string, path: string, data = ""): Promise<void> {
  const out = await zkCli(server, "create", path, data);
  if (out.code !== 0 || !`${out.stdout}${out.stderr}`.includes(`Created ${path}`)) {
    throw new Error(`zkCli create ${path} failed (${out.code}):\n${out.stdout}${out.stderr}`);
  }
}

/** `deleteall PATH` through zkCli, for clean-up; a missing node is fine. */
export async function cliDeleteAll(server: string, path: string): Promise<void> {
  await zkCli(server, "deleteall", path);
}

// --- the script ----------------------------------------------------------------------------------

/** Runs `bash scripts/servers/zookeeper.sh ARGS...`; returns its log (stderr); throws if it fails. */
export function zkScript(...args: string[]): Promise<string> {
  return serverScript("zookeeper", ...args);
}

/** The standalone server: stop (clean, or SIGKILL with `kill`), resume or restart on its data. */
export const standalone = {
  stop: (options: { kill?: boolean } = {}): Promise<string> =>
    zkScript("stop", ...(options.kill ? ["--kill"] : [])),
  resume: (): Promise<string> => zkScript("resume"),
  /** Clean stop, `seconds` down, start again on the same data. */
  restart: (seconds = 0): Promise<string> => zkScript("restart", String(seconds)),
  /** Clean stop, delete the data dir, start on empty data: every node and session gone, zxid 0. */
  wipe: (): Promise<string> => zkScript("wipe"),
};

/** Ensemble members 1-3 (member N serves the Nth address of SD_ZK_ENSEMBLE). */
export const ensemble = {
  /** Stops member N; with two members left it returns once they have a quorum again. */
  memberStop: (n: 1 | 2 | 3, options: { kill?: boolean } = {}): Promise<string> =>
    zkScript("member-stop", String(n), ...(options.kill ? ["--kill"] : [])),
  /** Starts member N; returns once the running members have one leader and the rest follow. */
  memberStart: (n: 1 | 2 | 3): Promise<string> => zkScript("member-start", String(n)),
};

/**
 * Runs `fn` holding a lock shared by every ZooKeeper test process: "shared" for ordinary tests,
 * "exclusive" for a test that stops or restarts a server. The lock is flock on zookeeper.sh itself,
 * so it needs only --allow-read and is dropped when the file is closed, even if `fn` throws.
 */
export function withZkLock<T>(mode: "shared" | "exclusive", fn: () => Promise<T>): Promise<T> {
  return withServerLock("zookeeper", mode, fn);
}

// Plumbing for the pull-mode tests that run a Worker (examples/worker_gateway.ts, or the README's
// Hono one, examples/hono_worker_gateway.ts) inside `workerd serve`: the workerd binary (installed by
// scripts/install_workerd.sh), the bundle, the workerd child process with its stderr, a registry front
// that counts discovery requests (forwarding to a real registry or answering as a fake Consul, with
// faults), and upstream instances that answer with their name.

import { REQUIRE_SERVERS } from "../integration/_server.ts";

const ROOT = new URL("../../", import.meta.url);
const CONFIG_DIR = new URL("tests/runtime/workerd_pull/", ROOT);
const path = (url: URL) => decodeURIComponent(url.pathname);

/** Where workerd is: SD_WORKERD, else the runtimes cache that scripts/install_workerd.sh fills. */
export function workerdPath(): string {
  const explicit = Deno.env.get("SD_WORKERD")?.trim();
  if (explicit) return explicit;
  const cache = Deno.env.get("EDGEKIT_RUNTIMES_CACHE")?.trim() ||
    `${Deno.env.get("HOME") ?? ""}/.cache/edgekit-runtimes`;
  return `${cache}/node_modules/.bin/workerd`;
}

/** Whether the workerd binary exists (it is not installed by the tests). */
export function hasWorkerd(): boolean {
  try {
    return Deno.statSync(workerdPath()).isFile;
  } catch {
    return false;
  }
}

/**
 * Registers a test that needs workerd (and, when `variable` is given, a real server whose address is
 * in it). Missing either: ignored, or failed under SD_REQUIRE_SERVERS=1, like tests/integration.
 */
export function workerdTest(
  name: string,
  variable: string | undefined,
  fn: (address: string, t: Deno.TestContext) => Promise<void>,
): void {
  const address = variable === undefined ? "" : Deno.env.get(variable)?.trim();
  const missing = [
    ...(hasWorkerd() ? [] : [`workerd at ${workerdPath()} (bash scripts/install_workerd.sh)`]),
    ...(address === undefined || (variable !== undefined && address === "")
      ? [`a real server: set ${variable} (see tests/integration/README.md)`]
      : []),
  ];
  if (missing.length > 0 && Deno.env.get(REQUIRE_SERVERS) !== "1") {
    Deno.test({ name: `${name} (skipped: needs ${missing.join(" and ")})`, ignore: true, fn() {} });
    return;
  }
  Deno.test(name, async (t) => {
    if (missing.length > 0) throw new Error(`Needs ${missing.join(" and ")}, but ${REQUIRE_SERVERS}=1`);
    await fn(address ?? "", t);
  });
}

/** A Worker the harness runs: the example it bundles and the config (tests/runtime/workerd_pull/) that embeds it. */
export interface WorkerSpec {
  /** The Worker's source, relative to the repository, e.g. `examples/worker_gateway.ts`. */
  readonly entry: string;
  /** The workerd config in tests/runtime/workerd_pull/ that embeds `dist/<entry's name>.js`. */
  readonly config: string;
}

/** examples/worker_gateway.ts with config.capnp: what {@linkcode Workerd.start} runs by default. */
export const WORKER_GATEWAY: WorkerSpec = { entry: "examples/worker_gateway.ts", config: "config.capnp" };

const bundled = new Map<string, Promise<void>>();

/**
 * Bundles a Worker (default: examples/worker_gateway.ts) for the browser platform (its
 * `@edgekit/sd/...` imports resolve to the local sources through deno.json's name and exports) into
 * the file its config embeds, `tests/runtime/workerd_pull/dist/<name>.js`. Once per test process.
 */
export function bundleWorker(worker: WorkerSpec = WORKER_GATEWAY): Promise<void> {
  const name = worker.entry.slice(worker.entry.lastIndexOf("/") + 1).replace(/\.ts$/, ".js");
  let done = bundled.get(worker.entry);
  if (done === undefined) {
    done = (async () => {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform=browser",
          "-o",
          `tests/runtime/workerd_pull/dist/${name}`,
          worker.entry,
        ],
        cwd: path(ROOT),
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      if (code !== 0) throw new Error(`deno bundle failed:\n${new TextDecoder().decode(stderr)}`);
    })();
    bundled.set(worker.entry, done);
  }
  return done;
}

/** Lines of workerd's output that mean the Worker broke a Workers rule or was cancelled. */
export const FORBIDDEN = [
  /different request/i, // "Cannot perform I/O on behalf of a different request"
  /Cannot perform I\/O/i,
  /created by a request/i, // "This promise was created by a request that has since ended"
  /can never settle/i,
  /hung/i, // "... canceled this request because it detected that your Worker's code had hung"
  /uncaught/i, // "info: uncaught exception; source = Uncaught (in promise)"
  /Illegal invocation/i,
  /exceeded/i, // subrequest or CPU limits
  /: error: /, // workerd's own error lines
];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Polls `check` every 20 ms until it is truthy; throws with `what` after `ms`. */
export async function until<T>(what: string, ms: number, check: () => T | Promise<T>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One answer of the gateway. */
export interface Answer {
  status: number;
  /** The `x-sd-refresh` header: how discovery answered (`fresh`, `refreshed`, ...), or `error`. */
  source: string;
  body: string;
  /** Milliseconds from sending to the whole body. */
  ms: number;
}

/** `workerd serve` running the bundled gateway, bound to a free loopback port. */
export class Workerd implements AsyncDisposable {
  readonly url: string;
  readonly #child: Deno.ChildProcess;
  readonly #output: Promise<void>;
  #text = "";

  private constructor(child: Deno.ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#text += decoder.decode(chunk, { stream: true });
    };
    this.#output = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
  }

  /**
   * Starts workerd with the gateway's bindings (its config reads them from the environment) and
   * waits until its socket accepts connections (a TCP probe: an HTTP probe would run discovery).
   */
  static async start(
    bindings: Record<string, string>,
    worker: WorkerSpec = WORKER_GATEWAY,
  ): Promise<Workerd> {
    await bundleWorker(worker);
    const port = freePort();
    const child = new Deno.Command(workerdPath(), {
      args: ["serve", worker.config, "--verbose", `--socket-addr=http=127.0.0.1:${port}`],
      cwd: path(CONFIG_DIR),
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...bindings },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const workerd = new Workerd(child, `http://127.0.0.1:${port}`);
    try {
      let exited = false;
      child.status.then(() => exited = true);
      await until("workerd to listen", 15_000, async () => {
        if (exited) throw new Error(`workerd exited at start:\n${workerd.output}`);
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      });
    } catch (error) {
      await workerd[Symbol.asyncDispose]();
      throw error;
    }
    return workerd;
  }

  /** Everything workerd printed so far (stdout and stderr). */
  get output(): string {
    return this.#text;
  }

  /** Output lines that match {@linkcode FORBIDDEN} (SD_WORKERD_DEBUG=1 prints all output). */
  problems(): string[] {
    if (Deno.env.get("SD_WORKERD_DEBUG") === "1") console.log(this.#text);
    return this.#text.split("\n").filter((line) => FORBIDDEN.some((re) => re.test(line)));
  }

  /** Sends one GET through the gateway, bounded by `ms`. */
  async get(pathname = "/", ms = 10_000): Promise<Answer> {
    const start = performance.now();
    const response = await fetch(new URL(pathname, this.url), { signal: AbortSignal.timeout(ms) });
    const body = await response.text();
    return {
      status: response.status,
      source: response.headers.get("x-sd-refresh") ?? "",
      body,
      ms: performance.now() - start,
    };
  }

  /** Kills workerd (SIGTERM, then SIGKILL after 3 s) and waits for it and its output. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 3_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#output;
  }
}

const HOP_HEADERS = ["content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"];

/** What the fake registry does with a discovery request. */
export type Fault = "none" | "500" | "stall" | "garbage";

/** One request seen by a {@linkcode RegistryFront}. */
export interface Seen {
  method: string;
  path: string;
  at: number;
}

/** Something between workerd and a registry that sees every discovery request or connection. */
export interface Front {
  /** `host:port` workerd should use instead of the registry's. */
  readonly address: string;
  /** Every request (or connection) seen, in order. */
  readonly seen: readonly Seen[];
  /** Milliseconds every request (or connection) is held before it goes on. */
  latency: number;
  /** Requests seen whose path starts with `prefix` (default: all). */
  count(prefix?: string): number;
}

/**
 * An HTTP server on 127.0.0.1 between workerd and the registry, counting every request: it forwards
 * to `target` (a real registry) or answers with `handler` (a fake). It can fail requests (`fault`) or
 * go down (stop listening) and come back on the same port.
 */
export class RegistryFront implements Front, AsyncDisposable {
  readonly seen: Seen[] = [];
  #fault: Fault = "none";
  /** Milliseconds every request is held before it is answered (to make concurrent calls overlap). */
  latency = 0;
  #port = 0;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  readonly #handler: (request: Request) => Response | Promise<Response>;
  readonly #stalls = new Set<() => void>();

  constructor(handler: { target: string } | ((request: Request) => Response | Promise<Response>)) {
    if (typeof handler === "function") {
      this.#handler = handler;
    } else {
      const target = new URL(handler.target);
      this.#handler = async (request) => {
        const url = new URL(request.url);
        url.protocol = target.protocol;
        url.host = target.host;
        const body = request.body ? await request.arrayBuffer() : null;
        const headers = new Headers(request.headers);
        for (const name of ["host", "accept-encoding", "connection"]) headers.delete(name);
        const answer = await fetch(url, { method: request.method, headers, body });
        // fetch has decoded the body: its length and encoding headers no longer hold.
        const back = new Headers(answer.headers);
        for (const name of HOP_HEADERS) back.delete(name);
        return new Response(answer.body, { status: answer.status, headers: back });
      };
    }
    this.up();
  }

  /** What discovery requests get; leaving `"stall"` releases the stalled ones. */
  get fault(): Fault {
    return this.#fault;
  }

  set fault(fault: Fault) {
    this.#fault = fault;
    if (fault !== "stall") this.#releaseStalls();
  }

  /** `host:port` of the front. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Requests seen whose path starts with `prefix` (default: all). */
  count(prefix = ""): number {
    return this.seen.filter((s) => s.path.startsWith(prefix)).length;
  }

  /** Starts listening (again, on the same port). */
  up(): void {
    if (this.#server !== undefined) return;
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: this.#port,
      onListen: () => {},
    }, (request) => this.#serve(request));
    this.#port = (this.#server.addr as Deno.NetAddr).port;
  }

  /** Stops listening: connections are refused until {@linkcode RegistryFront.up}. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#releaseStalls();
    await server?.shutdown();
  }

  async #serve(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.seen.push({ method: request.method, path: url.pathname + url.search, at: Date.now() });
    if (this.latency > 0) await new Promise((resolve) => setTimeout(resolve, this.latency));
    switch (this.#fault) {
      case "500":
        return new Response("injected failure", { status: 500 });
      case "garbage":
        return new Response("{ not json", { headers: { "content-type": "application/json" } });
      case "stall":
        // Holds the request until the fault is cleared or the front goes down.
        await new Promise<void>((resolve) => {
          const release = () => {
            this.#stalls.delete(release);
            resolve();
          };
          this.#stalls.add(release);
        });
        return new Response("released", { status: 503 });
      default:
        return await this.#handler(request);
    }
  }

  #releaseStalls(): void {
    for (const release of [...this.#stalls]) release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.fault = "none";
    await this.down();
  }
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` (ZooKeeper), counting connections: each is seen as
 * `{ method: "CONNECT", path: "tcp" }`.
 */
export class TcpFront implements Front, AsyncDisposable {
  readonly seen: Seen[] = [];
  latency = 0;
  readonly #target: { hostname: string; port: number };
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #open = new Set<Deno.Conn>();
  readonly #pipes = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;

  constructor(target: string) {
    const colon = target.lastIndexOf(":");
    this.#target = { hostname: target.slice(0, colon), port: Number(target.slice(colon + 1)) };
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get address(): string {
    return `127.0.0.1:${this.#listener.addr.port}`;
  }

  count(prefix = ""): number {
    return this.seen.filter((s) => s.path.startsWith(prefix)).length;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.seen.push({ method: "CONNECT", path: "tcp", at: Date.now() });
        const pipe = this.#pipe(conn);
        this.#pipes.add(pipe);
        pipe.finally(() => this.#pipes.delete(pipe));
      }
    } catch { /* closed */ }
  }

  async #pipe(conn: Deno.Conn): Promise<void> {
    this.#open.add(conn);
    let upstream: Deno.Conn | undefined;
    try {
      if (this.latency > 0) await new Promise((resolve) => setTimeout(resolve, this.latency));
      upstream = await Deno.connect(this.#target);
      this.#open.add(upstream);
      const up = upstream;
      // Whichever side ends first ends both.
      await Promise.race([
        conn.readable.pipeTo(up.writable, { preventClose: true }).catch(() => {}),
        up.readable.pipeTo(conn.writable, { preventClose: true }).catch(() => {}),
      ]);
    } catch {
      /* refused or reset */
    } finally {
      for (const c of [conn, upstream]) {
        if (c === undefined || !this.#open.delete(c)) continue;
        try {
          c.close();
        } catch { /* already closed */ }
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const c of [...this.#open]) {
      this.#open.delete(c);
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await Promise.allSettled([...this.#pipes]);
  }
}

/** A Consul-shaped `/v1/health/service/<name>` answering from `services` (name -> instances). */
export function fakeConsul(services: Map<string, { name: string; port: number }[]>) {
  let index = 1;
  return (request: Request): Response => {
    const url = new URL(request.url);
    const match = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (match === null) return new Response("not found", { status: 404 });
    const list = services.get(decodeURIComponent(match[1]!)) ?? [];
    index++;
    return Response.json(
      list.map(({ name, port }) => ({
        Node: { Node: "fake", Address: "127.0.0.1", Datacenter: "dc1" },
        Service: { ID: name, Service: match[1], Address: "127.0.0.1", Port: port, Tags: [], Meta: null },
        Checks: [{ Status: "passing" }],
      })),
      { headers: { "x-consul-index": String(index) } },
    );
  };
}

/** An upstream instance: answers every request with its name. */
export class Upstream implements AsyncDisposable {
  readonly name: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(name: string) {
    this.name = name;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(name),
    );
  }

  get port(): number {
    return (this.#server.addr as Deno.NetAddr).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

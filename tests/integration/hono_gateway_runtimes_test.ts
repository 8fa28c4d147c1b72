// The README's Hono gateway against the real Consul agent on Bun and Node 20, as real processes:
// Bun serves the `export default` of examples/consul_gateway.ts itself; Node 20, which serves no
// `export default`, runs examples/consul_gateway_node.ts (the same app on node:http). Both run the
// `deno bundle` of the example (Node runs no TypeScript; the bundle resolves `@edgekit/sd/*` to this
// tree), configured through the runtime's own --env-file. Upstream Deno servers are registered in
// Consul through ConsulRegistrar; the gateway forwards to both (prefix stripped, X-Forwarded-* set),
// follows a deregistration, answers a 503 problem+json without addresses once none is left, and exits
// 0 on SIGTERM. (Deno runs the same gateway under `deno serve` in consul_examples_test.ts.)
//   eval "$(bash scripts/servers/consul.sh env)"; bash scripts/install_bun.sh
//   deno test -A tests/integration/hono_gateway_runtimes_test.ts
// Without Bun (scripts/install_bun.sh, which .ci/run runs first) or Node 20 the test is ignored, or
// fails under SD_REQUIRE_SERVERS=1, like a missing server.
import { assert } from "../_deps.ts";
import { ConsulClient, ConsulRegistrar } from "../../src/consul/mod.ts";
import { uniqueName, within } from "../consul/_real.ts";
import { REQUIRE_SERVERS, serverTestLocked } from "./_server.ts";

const serverTest = serverTestLocked("consul", "shared");
const root = new URL("../../", import.meta.url);
const ENV_FILE = "examples/consul_gateway.env";

/** An upstream that answers with its name and what the gateway sent it. */
function upstream(name: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    return Response.json({
      name,
      path: url.pathname + url.search,
      host: request.headers.get("host"),
      xff: request.headers.get("x-forwarded-for"),
      xfh: request.headers.get("x-forwarded-host"),
      xfp: request.headers.get("x-forwarded-proto"),
    });
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const bundles = new Map<string, Promise<string>>();

/** `deno bundle` of `entry` into tests/runtime/dist/ (ignored by git), once per test process. */
function bundle(entry: string): Promise<string> {
  let done = bundles.get(entry);
  if (done === undefined) {
    done = (async () => {
      const out = `tests/runtime/dist/${entry.slice(entry.lastIndexOf("/") + 1).replace(/\.ts$/, ".mjs")}`;
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "-o", out, entry],
        cwd: root,
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      return out;
    })();
    bundles.set(entry, done);
  }
  return done;
}

/** The gateway running as `command args...`, listening on `port` of 127.0.0.1. */
class GatewayChild implements AsyncDisposable {
  readonly url: string;
  readonly process: Deno.ChildProcess;
  readonly #done: Promise<unknown>;
  output = "";

  constructor(command: string, args: string[], port: number, env: Record<string, string>) {
    this.url = `http://127.0.0.1:${port}`;
    this.process = new Deno.Command(command, {
      args,
      cwd: root,
      env: { NO_COLOR: "1", PORT: String(port), HOST: "127.0.0.1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this.output += text;
    };
    this.#done = Promise.all([read(this.process.stdout), read(this.process.stderr)]);
  }

  get(path: string): Promise<Response> {
    return fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
  }

  /** Polls `check` every 50 ms for up to 20 s; fails early if the process exits. */
  async until(what: string, check: () => Promise<boolean>): Promise<void> {
    let exited = false;
    this.process.status.then(() => exited = true);
    const end = performance.now() + 20_000;
    while (!(await check().catch(() => false))) {
      if (exited) throw new Error(`The gateway exited while waiting for ${what}:\n${this.output}`);
      if (performance.now() > end) throw new Error(`Timed out waiting for ${what}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** How many instances of `service` the status route lists. */
  async count(service: string): Promise<number> {
    const body = await (await this.get("/_gateway/status")).json();
    return body.services[service]?.count ?? -1;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.process.status;
    await this.#done;
  }
}

/** Requests until every name in `names` has answered, checking how each one was forwarded. */
async function reachesAll(gateway: GatewayChild, names: string[]): Promise<void> {
  const seen = new Set<string>();
  const host = new URL(gateway.url).host;
  for (let i = 0; i < names.length * 4 && seen.size < names.length; i++) {
    const response = await gateway.get(`/api/items/${i}?q=1`);
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.path, `/items/${i}?q=1`, "the /api prefix is stripped");
    assert.notEqual(body.host, host, "the upstream gets its own Host");
    // Bun listens on every interface (a default export names no hostname): the address may be mapped.
    assert.match(body.xff ?? "", /^(::ffff:)?127\.0\.0\.1$/, "X-Forwarded-For is the client");
    assert.deepEqual([body.xfh, body.xfp], [host, "http"]);
    seen.add(body.name);
  }
  assert.deepEqual([...seen].sort(), [...names].sort());
}

/** Runs the gateway, registers and deregisters upstreams in Consul, and checks what it forwards. */
async function followsConsul(address: string, runtime: string, command: string, entry: string) {
  const file = await bundle(entry);
  const name = uniqueName(`hono-gw-${runtime}`);
  const client = new ConsulClient({ address });
  const servers = [upstream("a"), upstream("b")];
  const registrars = servers.map((s, i) =>
    new ConsulRegistrar(client, { name, id: `${name}-${i}`, address: "127.0.0.1", port: s.addr.port })
  );
  try {
    for (const r of registrars) await r.register();
    // The rest of the configuration comes from the .env file (the environment wins over it).
    await using gateway = new GatewayChild(command, [`--env-file=${ENV_FILE}`, file], freePort(), {
      SD_CONSUL_ADDR: address,
      SD_SERVICE: name,
    });
    await gateway.until("/healthz", async () => (await gateway.get("/healthz")).ok);
    await gateway.until("two instances", async () => (await gateway.count(name)) === 2);
    await reachesAll(gateway, ["a", "b"]);

    await registrars[0]!.deregister();
    await gateway.until("one instance", async () => (await gateway.count(name)) === 1);
    await reachesAll(gateway, ["b"]);

    await registrars[1]!.deregister();
    await gateway.until("no instance", async () => (await gateway.count(name)) === 0);
    const response = await gateway.get("/api/x");
    const text = await response.text();
    assert.equal(response.status, 503, text);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.equal(JSON.parse(text).code, "ERR_NO_ENDPOINTS");
    assert.doesNotMatch(text, /127\.0\.0\.1/);

    // gracefulShutdown in the example: SIGTERM stops the watch and exits 0.
    gateway.process.kill("SIGTERM");
    const { code } = await within(gateway.process.status, 10_000, `exit on SIGTERM\n${gateway.output}`);
    assert.equal(code, 0, gateway.output);
  } finally {
    for (const r of registrars) await r.deregister().catch(() => {});
    await Promise.all(servers.map((s) => s.shutdown()));
  }
}

/** Where a runtime is, or why it cannot run. */
type Found = { command: string } | { missing: string };

/** A {@linkcode serverTest} that also needs a runtime: ignored without it, failed under SD_REQUIRE_SERVERS=1. */
function runtimeTest(name: string, found: Found, fn: (address: string, command: string) => Promise<void>) {
  if ("missing" in found && Deno.env.get(REQUIRE_SERVERS) !== "1") {
    Deno.test({ name: `${name} (skipped: ${found.missing})`, ignore: true, fn() {} });
    return;
  }
  serverTest(name, "SD_CONSUL_ADDR", async (address) => {
    if ("missing" in found) throw new Error(`${found.missing}, but ${REQUIRE_SERVERS}=1`);
    await fn(address, found.command);
  });
}

function findBun(): Found {
  const explicit = Deno.env.get("SD_BUN")?.trim();
  const cache = Deno.env.get("EDGEKIT_RUNTIMES_CACHE")?.trim() ||
    `${Deno.env.get("HOME") ?? ""}/.cache/edgekit-runtimes`;
  const command = explicit || `${cache}/node_modules/.bin/bun`;
  try {
    if (Deno.statSync(command).isFile) return { command };
  } catch { /* missing */ }
  return { missing: `needs Bun at ${command} (bash scripts/install_bun.sh)` };
}

function findNode(): Found {
  try {
    const { success, stdout } = new Deno.Command("node", { args: ["-p", "process.versions.node"] })
      .outputSync();
    const version = new TextDecoder().decode(stdout).trim();
    if (success && Number(version.split(".")[0]) >= 20) return { command: "node" };
    return { missing: `needs Node 20 or later, found ${version || "a node that failed"}` };
  } catch {
    return { missing: "needs Node 20 or later on PATH" };
  }
}

runtimeTest(
  "Bun: the README's Hono gateway (its export default) forwards to instances in the real Consul and follows a deregistration",
  findBun(),
  (address, bun) => followsConsul(address, "bun", bun, "examples/consul_gateway.ts"),
);

runtimeTest(
  "Node 20: the README's Hono gateway (served by examples/consul_gateway_node.ts) forwards to instances in the real Consul and follows a deregistration",
  findNode(),
  (address, node) => followsConsul(address, "node", node, "examples/consul_gateway_node.ts"),
);

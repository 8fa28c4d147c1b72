// examples/hono_service.ts as a real process against the real Consul agent, on Deno (`deno run`),
// Node 20 and Bun (both running the `deno bundle` of the example), configured through the runtime's
// own `--env-file`. It registers once it listens; a slow request is put in flight; then SIGTERM. The
// instance must leave Consul's agent while the process still runs, the slow request must be answered
// with 200, and the process must exit with 143 within the shutdown timeout.
//   bash scripts/servers/consul.sh start && eval "$(bash scripts/servers/consul.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/hono_service_test.ts
// (SD_SHUTDOWN_TIMES=1 prints, per runtime, the milliseconds from SIGTERM to deregistration and exit.)
//
// The only bound on time is the shutdown timeout (5 s), the behaviour the example promises; the slow
// request takes 1.5 s after the signal, so the deregistration (a few ms) is seen well before the exit.
import { assert } from "../_deps.ts";
import { baseUrl, uniqueName, within } from "../consul/_real.ts";
import { serverTestLocked } from "./_server.ts";

const serverTest = serverTestLocked("consul", "shared");
const root = new URL("../../", import.meta.url);
const ENV_FILE = "examples/hono_service.env";
const TIMEOUT_MS = 5000; // SHUTDOWN_TIMEOUT_MS there
const SLOW_MS = 1500;

/** A child process whose output is collected as it comes, with a wait for a line of stdout. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly done: Promise<unknown>;
  stdout = "";
  stderr = "";
  #waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(command: string, args: string[], env: Record<string, string>) {
    this.process = new Deno.Command(command, {
      args,
      cwd: root,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const read = async (stream: ReadableStream<Uint8Array>, onText: (text: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) onText(text);
    };
    this.done = Promise.all([
      read(this.process.stdout, (text) => {
        this.stdout += text;
        this.#waiters = this.#waiters.filter(({ pattern, resolve }) => {
          const match = pattern.exec(this.stdout);
          if (match) resolve(match);
          return !match;
        });
      }),
      read(this.process.stderr, (text) => void (this.stderr += text)),
    ]);
  }

  get output(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }

  line(pattern: RegExp): Promise<RegExpExecArray> {
    const now = pattern.exec(this.stdout);
    const match = now ? Promise.resolve(now) : new Promise<RegExpExecArray>((resolve) => {
      this.#waiters.push({ pattern, resolve });
    });
    const exited = this.process.status.then((s) => {
      throw new Error(`Exited with ${s.code} before printing ${pattern}\n${this.output}`);
    });
    return within(Promise.race([match, exited]), 30_000, `${pattern}\n${this.output}`);
  }

  async dispose(): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.process.status;
    await this.done;
  }
}

/** Whether the agent still has the service. */
async function registered(address: string, id: string): Promise<boolean> {
  const response = await fetch(`${baseUrl(address)}/v1/agent/service/${encodeURIComponent(id)}`, {
    signal: AbortSignal.timeout(2000),
  });
  await response.body?.cancel();
  return response.status === 200;
}

/** Runs the example with `command`, puts a slow request in flight, sends SIGTERM, checks everything. */
async function leavesCleanly(address: string, runtime: string, command: string, args: string[]) {
  const name = uniqueName("hono-svc");
  // The rest comes from examples/hono_service.env through --env-file (the environment wins over it).
  const child = new Child(command, args, { SD_CONSUL_ADDR: address, SD_SERVICE: name });
  try {
    const [, instance, id] = await child.line(/ at http:\/\/(\S+), registered as (\S+); (\w+),/);
    assert.match(child.stdout, new RegExp(`; ${runtime}, pid`));
    assert.ok(await registered(address, id!), "registered in Consul before the signal");

    const slow = fetch(`http://${instance}/slow?ms=${SLOW_MS}`, { signal: AbortSignal.timeout(20_000) });
    await child.line(/slow request started/);
    const start = performance.now();
    child.process.kill("SIGTERM");
    let exitMs: number | undefined;
    const status = child.process.status.then((s) => ((exitMs = performance.now() - start), s));
    // Polled every 10 ms on loopback until gone, recording whether the process was still running.
    let deregisteredMs: number | undefined;
    let runningThen = false;
    while (deregisteredMs === undefined) {
      const stillRunning = exitMs === undefined;
      if (!(await registered(address, id!))) {
        deregisteredMs = performance.now() - start;
        runningThen = stillRunning;
      } else if (performance.now() - start > TIMEOUT_MS * 2) break;
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const response = await slow;
    const body = await response.json();
    const { code } = await within(status, TIMEOUT_MS * 2, `the process to exit\n${child.output}`);
    await child.done;
    if (Deno.env.get("SD_SHUTDOWN_TIMES")) {
      console.log(
        `${runtime}: deregistered ${deregisteredMs?.toFixed(1)} ms, exited ${
          exitMs?.toFixed(1)
        } ms after SIGTERM (slow request: ${SLOW_MS} ms)`,
      );
    }
    assert.ok(deregisteredMs !== undefined, `still registered after the exit\n${child.output}`);
    assert.ok(runningThen, `deregistered only after the exit\n${child.output}`);
    assert.deepEqual([response.status, body], [200, { instance, slow: true }], "the slow request completed");
    assert.equal(code, 143, child.output);
    assert.match(child.stdout, /stopped on SIGTERM; exit 143; failures: 0/);
    assert.ok(exitMs! < TIMEOUT_MS, `exited ${exitMs} ms after SIGTERM, timeout ${TIMEOUT_MS} ms`);
  } finally {
    await child.dispose();
  }
}

const deno = Deno.execPath();

serverTest(
  "Deno: the self-registering Hono service leaves Consul, answers its slow request and exits 143 on SIGTERM",
  "SD_CONSUL_ADDR",
  (address) =>
    leavesCleanly(address, "deno", deno, [
      "run",
      "--quiet",
      `--env-file=${ENV_FILE}`,
      "--allow-net=127.0.0.1",
      "--allow-env",
      "examples/hono_service.ts",
    ]),
);

/**
 * The example bundled once per test process (Node 20 runs no TypeScript; Bun runs the same file), into
 * tests/runtime/dist/ (ignored by git) by `deno bundle` itself, so the test needs no write permission.
 */
let bundled: Promise<string> | undefined;
function bundle(): Promise<string> {
  bundled ??= (async () => {
    const out = "tests/runtime/dist/hono_service.mjs";
    const { code, stderr } = await new Deno.Command(deno, {
      args: ["bundle", "--quiet", "-o", out, "examples/hono_service.ts"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return out;
  })();
  return bundled;
}

serverTest(
  "Node 20: the bundled self-registering Hono service leaves Consul, answers its slow request and exits 143",
  "SD_CONSUL_ADDR",
  async (address) => {
    const file = await bundle();
    await leavesCleanly(address, "node", "node", [`--env-file=${ENV_FILE}`, file]);
  },
);

const cache = Deno.env.get("EDGEKIT_RUNTIMES_CACHE") ?? `${Deno.env.get("HOME")}/.cache/edgekit-runtimes`;
const bun = `${cache}/node_modules/.bin/bun`;
if (await Deno.stat(bun).then(() => true, () => false)) {
  serverTest(
    "Bun: the bundled self-registering Hono service leaves Consul, answers its slow request and exits 143",
    "SD_CONSUL_ADDR",
    async (address) => {
      const file = await bundle();
      await leavesCleanly(address, "bun", bun, [`--env-file=${ENV_FILE}`, file]);
    },
  );
} else {
  Deno.test({
    name:
      `Bun: the self-registering Hono service (skipped: no Bun at ${bun}; scripts/runtime_smoke.sh bun installs it)`,
    ignore: true,
    fn() {},
  });
}

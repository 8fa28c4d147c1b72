// Real processes against a real etcd: the shutdown examples register, watch their peers, get SIGTERM
// (or SIGINT), and must exit within one second with the documented code, their key gone from etcd.
// Covers `deno run` (examples/shutdown.ts), `deno serve` (examples/shutdown_serve.ts), Node 20 (the
// bundle of examples/shutdown_node.ts) and Bun (the same file as TypeScript, when Bun is installed
// where scripts/runtime_smoke.sh puts it). One more test keeps the bug itself in view: `deno serve`
// with a live instancer and no helper is still running after SIGTERM.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/shutdown_test.ts
// (SD_SHUTDOWN_TIMES=1 prints each measured exit time.)
//
// The one-second bound is on a real process exit, the behaviour asked for (issue #10), not a speed
// benchmark: the work after the signal is two loopback etcd calls and closing a local server, which
// take a few milliseconds; one second is far above that even on a loaded two-core machine, and far
// below the 5 s default timeout and the 30 s a hanging process would show.
import { assert } from "../_deps.ts";
import { range, withEtcdLock } from "./_etcd.ts";
import { serverTest } from "./_server.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";
const root = new URL("../../", import.meta.url);
const EXIT_BOUND_MS = 1000;

/** A child process whose stdout and stderr are collected as they come. */
class Child {
  readonly process: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  readonly #drained: Promise<unknown>;
  #waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(command: string, args: string[], env: Record<string, string>, stdin?: Uint8Array) {
    this.process = new Deno.Command(command, {
      args,
      cwd: root,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin) {
      const writer = this.process.stdin.getWriter();
      void writer.write(stdin).then(() => writer.close()).catch(() => {});
    }
    this.#drained = Promise.all([
      this.#read(this.process.stdout, (text) => {
        this.#stdout += text;
        this.#check();
      }),
      this.#read(this.process.stderr, (text) => void (this.#stderr += text)),
    ]);
  }

  get output(): string {
    return `stdout:\n${this.#stdout}\nstderr:\n${this.#stderr}`;
  }

  get stdout(): string {
    return this.#stdout;
  }

  /** Resolves with the first match of `pattern` in stdout; throws after `ms` or if the process ends. */
  async waitFor(pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        new Promise<RegExpExecArray>((resolve) => {
          this.#waiters.push({ pattern, resolve });
          this.#check();
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`No ${pattern} within ${ms} ms\n${this.output}`)), ms);
        }),
        this.process.status.then((status) => {
          throw new Error(`Exited with ${status.code} before printing ${pattern}\n${this.output}`);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal`; returns the exit status and the milliseconds from the signal to the exit. */
  async signal(signal: Deno.Signal): Promise<{ status: Deno.CommandStatus; ms: number }> {
    const start = performance.now();
    this.process.kill(signal);
    const status = await this.process.status;
    const ms = performance.now() - start;
    await this.#drained;
    return { status, ms };
  }

  /** Kills the process if it still runs and waits until its streams are closed. */
  async dispose(): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.process.status;
    await this.#drained;
  }

  #check(): void {
    this.#waiters = this.#waiters.filter(({ pattern, resolve }) => {
      const match = pattern.exec(this.#stdout);
      if (match) resolve(match);
      return !match;
    });
  }

  async #read(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) onText(text);
  }
}

/**
 * Runs a shutdown example up to three times; passes once a run exits within the bound. Every run must
 * exit with the documented code and deregister; only the time is allowed another try, because on a
 * loaded two-core machine (parallel test files, a server build) a process can wait more than a second
 * for the CPU. A process that hangs on the signal (the bug) fails all three.
 */
async function exitsCleanly(
  url: string,
  command: string,
  args: string[],
  signal: "SIGTERM" | "SIGINT",
  stdin?: Uint8Array,
): Promise<void> {
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const ms = await exitOnce(url, command, args, signal, stdin);
    times.push(ms);
    if (ms < EXIT_BOUND_MS) return;
  }
  assert.fail(`exited ${times.map(Math.round).join(", ")} ms after ${signal}, bound ${EXIT_BOUND_MS} ms`);
}

/** Runs a shutdown example once, sends `signal` once it is registered, checks the exit and etcd. */
async function exitOnce(
  url: string,
  command: string,
  args: string[],
  signal: "SIGTERM" | "SIGINT",
  stdin?: Uint8Array,
): Promise<number> {
  const service = `shutdown-${crypto.randomUUID().slice(0, 8)}`;
  const child = new Child(command, args, { SD_ETCD_ENDPOINTS: url, SD_SERVICE: service }, stdin);
  try {
    const key = (await child.waitFor(/registered as (\S+);/))[1] ?? "";
    assert.ok(key.startsWith(`/services/${service}/`), child.output);
    assert.equal((await range(url, key)).kvs?.length, 1, "registered in etcd before the signal");

    const { status, ms } = await child.signal(signal);
    const code = signal === "SIGTERM" ? 143 : 130;
    if (Deno.env.get("SD_SHUTDOWN_TIMES")) {
      console.log(`${args.at(-1)}: exited ${ms.toFixed(1)} ms after ${signal}`);
    }
    // An explicit exit with 128 + the signal's number, not a death by the signal.
    assert.deepEqual([status.code, status.signal], [code, null], child.output);
    assert.match(child.stdout, new RegExp(`stopped on ${signal}; exit ${code}; failures: \\[\\]`));
    assert.equal((await range(url, key)).kvs, undefined, "the key is gone from etcd");
    return ms;
  } finally {
    await child.dispose();
  }
}

const deno = Deno.execPath();
const denoPermissions = ["--allow-net=127.0.0.1", "--allow-env=SD_ETCD_ENDPOINTS,SD_SERVICE"];

serverTest(
  "deno run: the shutdown example exits 143 within a second of SIGTERM, deregistered",
  VARIABLE,
  (url) =>
    withEtcdLock(
      "shared",
      () =>
        exitsCleanly(url, deno, ["run", "--quiet", ...denoPermissions, "examples/shutdown.ts"], "SIGTERM"),
    ),
);

serverTest(
  "deno run: the shutdown example exits 130 within a second of SIGINT, deregistered",
  VARIABLE,
  (url) =>
    withEtcdLock(
      "shared",
      () => exitsCleanly(url, deno, ["run", "--quiet", ...denoPermissions, "examples/shutdown.ts"], "SIGINT"),
    ),
);

serverTest(
  "deno serve: the shutdown example exits 143 within a second of SIGTERM, deregistered",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", () =>
      exitsCleanly(
        url,
        deno,
        [
          "serve",
          "--quiet",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          ...denoPermissions,
          "examples/shutdown_serve.ts",
        ],
        "SIGTERM",
      )),
);

serverTest(
  "deno serve without the helper is still running two seconds after SIGTERM while an instancer is live",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const child = new Child(
        deno,
        [
          "serve",
          "--quiet",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          ...denoPermissions,
          "tests/integration/fixtures/shutdown_hang_serve.ts",
        ],
        { SD_ETCD_ENDPOINTS: url, SD_SERVICE: `hang-${crypto.randomUUID().slice(0, 8)}` },
      );
      try {
        await child.waitFor(/watching, 0 instances/);
        child.process.kill("SIGTERM");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([
          child.process.status.then((status) => `exited with ${status.code}`),
          new Promise<string>((resolve) => (timer = setTimeout(() => resolve("running"), 2000))),
        ]);
        clearTimeout(timer);
        assert.equal(outcome, "running", child.output);
      } finally {
        await child.dispose();
      }
    }),
);

serverTest(
  "Node 20: the bundled shutdown example exits 143 within a second of SIGTERM, deregistered",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      // Node 20 cannot run TypeScript: bundle to stdout and feed the program through stdin.
      const bundle = await new Deno.Command(deno, {
        args: ["bundle", "--quiet", "examples/shutdown_node.ts"],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(bundle.code, 0, new TextDecoder().decode(bundle.stderr));
      await exitsCleanly(url, "node", ["--input-type=module"], "SIGTERM", bundle.stdout);
    }),
);

const cache = Deno.env.get("EDGEKIT_RUNTIMES_CACHE") ?? `${Deno.env.get("HOME")}/.cache/edgekit-runtimes`;
const bun = `${cache}/node_modules/.bin/bun`;
const hasBun = await Deno.stat(bun).then(() => true, () => false);
if (hasBun) {
  serverTest(
    "Bun: the shutdown example exits 143 within a second of SIGTERM, deregistered",
    VARIABLE,
    (url) => withEtcdLock("shared", () => exitsCleanly(url, bun, ["examples/shutdown_node.ts"], "SIGTERM")),
  );
} else {
  Deno.test({
    name: `Bun: the shutdown example (skipped: no Bun at ${bun}; scripts/runtime_smoke.sh bun installs it)`,
    ignore: true,
    fn() {},
  });
}

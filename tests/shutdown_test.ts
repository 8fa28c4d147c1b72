// gracefulShutdown driven by a fake signal source: no real signals, no real exits.
import { assert, fakeTime } from "./_deps.ts";
import { recordingLogger } from "./_helpers.ts";
import {
  detectSignalSource,
  gracefulShutdown,
  type ShutdownSignal,
  signalExitCode,
  type SignalSource,
  StoppedError,
} from "../mod.ts";
import { MemoryRegistry } from "../src/memory/mod.ts";

/** A signal source that a test fires by hand; it records exits instead of exiting. */
function fakeSignals(options: { refuse?: ShutdownSignal[] } = {}) {
  const listeners = new Map<ShutdownSignal, Set<() => void>>();
  const exits: number[] = [];
  const source: SignalSource = {
    runtime: "fake",
    listen(signal, listener) {
      if (options.refuse?.includes(signal)) throw new TypeError(`Refusing ${signal}`);
      const set = listeners.get(signal) ?? new Set();
      listeners.set(signal, set);
      const own = () => listener();
      set.add(own);
      return () => set.delete(own);
    },
    exit: (code) => void exits.push(code),
  };
  return {
    source,
    exits,
    fire(signal: ShutdownSignal) {
      for (const listener of [...(listeners.get(signal) ?? [])]) listener();
    },
    count: () => [...listeners.values()].reduce((n, set) => n + set.size, 0),
  };
}

/** A registrar that records its calls in `log` and settles deregister() when told to. */
function fakeRegistrar(name: string, log: string[], behaviour: "ok" | "reject" | "hang" = "ok") {
  const signals: (AbortSignal | undefined)[] = [];
  return {
    signals,
    deregister(options?: { signal?: AbortSignal }): Promise<void> {
      log.push(`deregister ${name}`);
      signals.push(options?.signal);
      if (behaviour === "reject") return Promise.reject(new Error(`${name} refused`));
      if (behaviour === "hang") return new Promise<void>(() => {}); // ignores its signal on purpose
      return Promise.resolve().then(() => void log.push(`deregistered ${name}`));
    },
    stop: () => void log.push(`stop ${name}`),
  };
}

Deno.test("signalExitCode is 128 plus the signal's number", () => {
  assert.deepEqual(
    (["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM"] as const).map(signalExitCode),
    [129, 130, 131, 143],
  );
  assert.throws(() => signalExitCode("SIGKILL" as ShutdownSignal), /got "SIGKILL"/);
});

Deno.test("SIGTERM deregisters, runs the hooks in order, closes endpointers, stops instancers, then exits 143", async () => {
  const fake = fakeSignals();
  const log: string[] = [];
  const completed: unknown[] = [];
  const handle = await gracefulShutdown({
    source: fake.source,
    registrars: [fakeRegistrar("a", log), fakeRegistrar("b", log)],
    onStop: [
      async ({ trigger, signal }) => {
        log.push(`hook 1 ${trigger} ${signal.aborted}`);
        await Promise.resolve();
        log.push("hook 1 done");
      },
      () => void log.push("hook 2"),
    ],
    endpointers: [{ close: () => void log.push("close endpointer") }],
    instancers: [{ stop: () => void log.push("stop instancer") }],
    onComplete: (report) => {
      log.push(`complete, listeners left: ${fake.count()}`);
      completed.push(report);
    },
  });
  assert.deepEqual([handle.runtime, handle.listening, handle.signals], ["fake", true, ["SIGTERM", "SIGINT"]]);
  assert.equal(fake.count(), 2);

  fake.fire("SIGTERM");
  assert.equal(handle.started, true);
  const report = await handle.shutdown(); // joins the running shutdown
  assert.deepEqual(log, [
    // Both deregistrations start before either finishes: they run in parallel.
    "deregister a",
    "deregister b",
    "deregistered a",
    "deregistered b",
    "stop a",
    "stop b",
    "hook 1 SIGTERM false",
    "hook 1 done",
    "hook 2",
    "close endpointer",
    "stop instancer",
    "complete, listeners left: 0",
  ]);
  assert.deepEqual(report, { trigger: "SIGTERM", failures: [], timedOut: false, exitCode: 143 });
  assert.deepEqual(completed, [report]);
  assert.deepEqual(fake.exits, [143]);
  assert.deepEqual([handle.listening, handle.runtime, handle.signals], [false, null, []]);
});

Deno.test("SIGINT exits 130, a fixed exit code overrides it, and exit: false leaves the exit to the runtime", async () => {
  for (
    const [exit, signal, expected] of [
      [undefined, "SIGINT", [130]],
      [0, "SIGTERM", [0]],
      [false, "SIGTERM", []],
    ] as const
  ) {
    const fake = fakeSignals();
    const handle = await gracefulShutdown({
      source: fake.source,
      ...(exit === undefined ? {} : { exit }),
    });
    fake.fire(signal);
    const report = await handle.shutdown();
    assert.deepEqual(fake.exits, expected, `exit: ${exit}`);
    assert.equal(report.exitCode, expected[0] ?? null);
    assert.equal(fake.count(), 0, "the listeners are gone, so a later signal gets the default action");
  }
});

Deno.test("The timeout bounds a deregister that hangs: its signal aborts and discovery still stops", async () => {
  const clock = fakeTime();
  try {
    const fake = fakeSignals();
    const log: string[] = [];
    const { records, logger } = recordingLogger();
    const hanging = fakeRegistrar("hanging", log, "hang");
    const contexts: AbortSignal[] = [];
    const handle = await gracefulShutdown({
      source: fake.source,
      timeout: 2000,
      logger,
      registrars: [fakeRegistrar("quick", log), hanging],
      onStop: ({ signal }) => {
        contexts.push(signal);
        log.push(`hook, aborted: ${signal.aborted}`);
      },
      instancers: [{ stop: () => void log.push("stop instancer") }],
    });
    fake.fire("SIGTERM");
    await clock.tickAsync(1999);
    assert.deepEqual(fake.exits, [], "still waiting inside the timeout");
    assert.equal(hanging.signals[0]?.aborted, false);
    await clock.tickAsync(1);
    const report = await handle.shutdown();
    assert.equal(hanging.signals[0]?.aborted, true, "the pending call was told to give up");
    assert.equal(report.timedOut, true);
    assert.equal(report.failures.length, 1);
    const [failure] = report.failures;
    assert.deepEqual([failure?.phase, failure?.index], ["registrar", 1]);
    assert.equal((failure?.error as DOMException).name, "TimeoutError");
    assert.deepEqual(log, [
      "deregister quick",
      "deregister hanging",
      "deregistered quick",
      "stop quick",
      "stop hanging",
      "hook, aborted: true",
      "stop instancer",
    ]);
    assert.deepEqual(fake.exits, [143]);
    assert.ok(records.some((r) => r.level === "warn" && /pending at the timeout/.test(r.message)));
    assert.equal(clock.countTimers(), 0, "no timer is left behind");
  } finally {
    clock.uninstall();
  }
});

Deno.test("A hook that hangs past the timeout is abandoned and the rest still runs", async () => {
  const clock = fakeTime();
  try {
    const fake = fakeSignals();
    const log: string[] = [];
    const handle = await gracefulShutdown({
      source: fake.source,
      timeout: 500,
      onStop: [() => new Promise<void>(() => {}), () => void log.push("second hook")],
      instancers: [{ stop: () => void log.push("stop instancer") }],
    });
    fake.fire("SIGINT");
    await clock.tickAsync(500);
    const report = await handle.shutdown();
    assert.deepEqual(report.failures.map((f) => [f.phase, f.index]), [["onStop", 0]]);
    assert.deepEqual(log, ["second hook", "stop instancer"]);
    assert.deepEqual(fake.exits, [130]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("A second signal during the shutdown is ignored: one run, one exit", async () => {
  const fake = fakeSignals();
  const log: string[] = [];
  let release = () => {};
  let hookStarted = () => {};
  const started = new Promise<void>((resolve) => (hookStarted = resolve));
  const handle = await gracefulShutdown({
    source: fake.source,
    registrars: [fakeRegistrar("a", log)],
    onStop: () => new Promise<void>((resolve) => (release = resolve, hookStarted())),
  });
  fake.fire("SIGTERM");
  await started;
  fake.fire("SIGTERM");
  fake.fire("SIGINT");
  release();
  await handle.shutdown();
  fake.fire("SIGTERM"); // no listener any more: nothing happens
  assert.deepEqual(log.filter((l) => l.startsWith("deregister ")), ["deregister a"]);
  assert.deepEqual(fake.exits, [143], "the first signal decides the code");
});

Deno.test("Disposing the handle removes the listeners and shuts nothing down", async () => {
  const fake = fakeSignals();
  const log: string[] = [];
  {
    using handle = await gracefulShutdown({ source: fake.source, registrars: [fakeRegistrar("a", log)] });
    assert.equal(fake.count(), 2);
    assert.equal(handle.listening, true);
  }
  assert.equal(fake.count(), 0);
  fake.fire("SIGTERM");
  assert.deepEqual([log, fake.exits], [[], []]);
});

Deno.test("Failures are reported, never thrown, and every other step still runs", async () => {
  const fake = fakeSignals();
  const log: string[] = [];
  const { records, logger } = recordingLogger();
  const handle = await gracefulShutdown({
    source: fake.source,
    logger,
    registrars: [fakeRegistrar("a", log, "reject"), fakeRegistrar("b", log)],
    onStop: [() => {
      throw new Error("hook broke");
    }, () => void log.push("hook 2")],
    endpointers: [{ close: () => Promise.reject(new Error("close broke")) }],
    instancers: [{
      stop: () => {
        throw new Error("stop broke");
      },
    }, { stop: () => void log.push("stop instancer 2") }],
    onComplete: () => {
      throw new Error("onComplete broke");
    },
  });
  fake.fire("SIGTERM");
  const report = await handle.shutdown();
  assert.deepEqual(
    report.failures.map((f) => [f.phase, f.index, (f.error as Error).message]),
    [
      ["registrar", 0, "a refused"],
      ["onStop", 0, "hook broke"],
      ["endpointer", 0, "close broke"],
      ["instancer", 0, "stop broke"],
    ],
  );
  assert.equal(report.timedOut, false);
  assert.deepEqual(log, [
    "deregister a",
    "deregister b",
    "deregistered b",
    "stop a",
    "stop b",
    "hook 2",
    "stop instancer 2",
  ]);
  assert.deepEqual(fake.exits, [143]);
  assert.equal(records.filter((r) => r.message === "Shutdown step failed").length, 4);
  assert.ok(records.some((r) => r.message === "onComplete threw"));
});

Deno.test("shutdown() by hand never exits, unless a signal arrives while it runs", async () => {
  const fake = fakeSignals();
  const manual = await gracefulShutdown({ source: fake.source });
  assert.deepEqual(await manual.shutdown(), {
    trigger: "manual",
    failures: [],
    timedOut: false,
    exitCode: null,
  });
  assert.deepEqual([fake.exits, fake.count()], [[], 0]);

  let release = () => {};
  let hookStarted = () => {};
  const started = new Promise<void>((resolve) => (hookStarted = resolve));
  const joined = await gracefulShutdown({
    source: fake.source,
    onStop: () => new Promise<void>((resolve) => (release = resolve, hookStarted())),
  });
  const running = joined.shutdown();
  await started;
  fake.fire("SIGTERM");
  release();
  const report = await running;
  assert.deepEqual([report.trigger, report.exitCode], ["manual", 143]);
  assert.deepEqual(fake.exits, [143]);
});

Deno.test("add() takes more targets until the shutdown starts", async () => {
  const fake = fakeSignals();
  const log: string[] = [];
  const handle = await gracefulShutdown({ source: fake.source, exit: false });
  handle.add({ onStop: () => void log.push("drain"), registrars: [fakeRegistrar("late", log)] });
  await handle.shutdown();
  assert.deepEqual(log, ["deregister late", "deregistered late", "stop late", "drain"]);
  assert.throws(() => handle.add({ onStop: () => {} }), StoppedError);
});

Deno.test("A signal the runtime refuses is skipped; no source at all means listening to nothing", async () => {
  const fake = fakeSignals({ refuse: ["SIGTERM"] });
  const { records, logger } = recordingLogger();
  using partial = await gracefulShutdown({ source: fake.source, logger });
  assert.deepEqual(partial.signals, ["SIGINT"]);
  assert.ok(records.some((r) => r.level === "warn" && r.data?.["signal"] === "SIGTERM"));

  const log: string[] = [];
  using none = await gracefulShutdown({ source: null, instancers: [{ stop: () => void log.push("stop") }] });
  assert.deepEqual([none.listening, none.runtime, none.signals], [false, null, []]);
  assert.equal((await none.shutdown()).exitCode, null);
  assert.deepEqual(log, ["stop"]);
});

Deno.test("gracefulShutdown rejects bad options eagerly, quoting the value", async () => {
  const source = fakeSignals().source;
  await assert.rejects(
    () => gracefulShutdown({ source, signals: ["SIGUSR1" as ShutdownSignal] }),
    /got "SIGUSR1"/,
  );
  await assert.rejects(() => gracefulShutdown({ source, timeout: -1 }), RangeError);
  await assert.rejects(() => gracefulShutdown({ source, exit: 256 }), /0 to 255, got 256/);
  await assert.rejects(() => gracefulShutdown({ source, exit: "yes" as "signal" }), TypeError);
  await assert.rejects(
    () => gracefulShutdown({ source, registrars: [{} as never] }),
    /A registrar must have a deregister\(\) method/,
  );
  await assert.rejects(
    () => gracefulShutdown({ source, onStop: ["x" as never] }),
    /onStop hook must be a function/,
  );
});

Deno.test("With the library's own registrars and instancers, the registration is gone and delivery ends", async () => {
  using registry = new MemoryRegistry();
  const fake = fakeSignals();
  const registrar = registry.registrar("api", "127.0.0.1:8080", { ttl: 10_000 });
  await registrar.register();
  const instancer = registry.instancer("api");
  const handle = await gracefulShutdown({
    source: fake.source,
    registrars: [registrar],
    instancers: [instancer],
  });
  fake.fire("SIGTERM");
  await handle.shutdown();
  const watcher = registry.instancer("api");
  for await (const event of watcher) {
    assert.deepEqual(event.instances, []);
    break;
  }
  watcher.stop();
  assert.deepEqual(fake.exits, [143]);
});

Deno.test("detectSignalSource finds the Deno adapter under Deno", async () => {
  const source = await detectSignalSource();
  assert.equal(source?.runtime, "deno");
});

Deno.test("A real SIGHUP sent to this process reaches the Deno adapter; exit: false leaves the process be", async () => {
  let stopped = (_trigger: string) => {};
  const hookRan = new Promise<string>((resolve) => (stopped = resolve));
  const handle = await gracefulShutdown({
    signals: ["SIGHUP"],
    exit: false,
    onStop: ({ trigger }) => stopped(trigger),
  });
  assert.deepEqual([handle.runtime, handle.signals], ["deno", ["SIGHUP"]]);
  Deno.kill(Deno.pid, "SIGHUP");
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const trigger = await Promise.race([
      hookRan,
      new Promise<never>((
        _,
        reject,
      ) => (timer = setTimeout(() => reject(new Error("No SIGHUP in 5 s")), 5000))),
    ]);
    assert.equal(trigger, "SIGHUP");
  } finally {
    clearTimeout(timer);
    handle.close();
  }
  const report = await handle.shutdown();
  assert.deepEqual([report.trigger, report.exitCode], ["SIGHUP", null]);
  assert.equal(handle.listening, false);
});

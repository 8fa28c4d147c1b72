// DnsSrvInstancer: the TTL-driven schedule (clamped, jittered, fixed or fallback), backoff after
// failures, the last good state kept, stop and signal, and the one-shot lookup. All on fake time
// with a scripted resolver and an injected random source. go-kit equivalents: TestRefresh (a
// refresh picks up new records) and TestIssue892 (port 0), the latter now a skip, not an error.
import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { DnsError } from "../../src/dns/errors.ts";
import { DnsSrvInstancer, type DnsSrvInstancerOptions } from "../../src/dnssrv/instancer.ts";
import type { SrvResolver } from "../../src/dnssrv/lookup.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import type { DiscoveryEvent, Logger } from "../../src/types.ts";

type Srv = { name: string; port: number; priority: number; weight: number; ttl?: number };
type Step = Srv[] | Error | "hang" | "deaf";

const NAME = "_http._tcp.api.example";

/** Answers resolveSrv from a script (then repeats its last step), recording when it was asked. */
class ScriptedResolver implements SrvResolver {
  readonly calls: {
    at: number;
    name: string;
    options: { signal?: AbortSignal; ttl?: boolean } | undefined;
  }[] = [];
  #script: Step[];
  #last: Step;

  constructor(...script: Step[]) {
    this.#script = script;
    this.#last = script[script.length - 1] ?? [];
  }

  /** Replaces what later lookups get. */
  then(...script: Step[]): void {
    this.#script = script;
    this.#last = script[script.length - 1] ?? [];
  }

  times(): number[] {
    return this.calls.map((c) => c.at);
  }

  resolveSrv(name: string, options?: { signal?: AbortSignal; ttl?: boolean }): Promise<Srv[]> {
    this.calls.push({ at: Date.now(), name, options });
    const step = this.#script.shift() ?? this.#last;
    if (step === "deaf") return new Promise(() => {}); // ignores its signal, like node:dns
    if (step === "hang") {
      return new Promise((_, reject) => {
        const signal = options?.signal;
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step.map((r) => ({ ...r })));
  }
}

const rec = (name: string, port: number, ttl?: number, priority = 10, weight = 50): Srv =>
  ttl === undefined ? { name, port, priority, weight } : { name, port, priority, weight, ttl };

function summary(event: DiscoveryEvent): string {
  if (event.error !== undefined) {
    return `error:${(event.error as { code?: string }).code ?? event.error.message}`;
  }
  return `[${event.instances.join(",")}]`;
}

/** Runs `body` on fake time with an instancer over `resolver`; stops it and checks no timer is left. */
async function withInstancer(
  resolver: SrvResolver,
  options: DnsSrvInstancerOptions,
  body: (ctx: { clock: InstalledClock; instancer: DnsSrvInstancer; events: string[] }) => Promise<void>,
): Promise<void> {
  const clock = fakeTime(0);
  let instancer: DnsSrvInstancer | undefined;
  try {
    instancer = new DnsSrvInstancer(NAME, { random: () => 0.5, resolver, ...options });
    const events: string[] = [];
    instancer.subscribe((e) => void events.push(summary(e)));
    await body({ clock, instancer, events });
    instancer.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
  } finally {
    instancer?.stop();
    clock.uninstall();
  }
}

Deno.test("DnsSrvInstancer looks up at once and publishes target:port instances with priority and weight (go-kit TestRefresh)", async () => {
  const resolver = new ScriptedResolver([
    rec("b.example.", 8081, 30, 20, 40),
    rec("a.example.", 8080, 30, 10, 60),
  ]);
  await withInstancer(resolver, {}, async ({ clock, instancer, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[a.example:8080,b.example:8081]"]);
    assert.deepStrictEqual(instancer.details("a.example:8080"), { priority: 10, weight: 60 });
    assert.deepStrictEqual(instancer.details("b.example:8081"), { priority: 20, weight: 40 });
    assert.equal(instancer.name, NAME);
    assert.deepStrictEqual(resolver.calls.map((c) => [c.at, c.name, c.options?.ttl]), [[0, NAME, true]]);
    resolver.then([rec("a.example.", 8080, 30), rec("c.example", 8082, 30), rec("2001:db8::7", 8083, 30)]);
    await clock.tickAsync(31_500);
    assert.deepStrictEqual(events.slice(1), ["[[2001:db8::7]:8083,a.example:8080,c.example:8082]"]);
    assert.equal(resolver.calls.length, 2);
  });
});

Deno.test("DnsSrvInstancer re-queries when the TTL runs out, clamped to min and max interval, with jitter", async (t) => {
  // random() is 0.5 and jitter 0.1 unless a case says otherwise, so every pause is stretched by 5%.
  const cases: [string, Srv[], DnsSrvInstancerOptions, number[]][] = [
    ["a 30 s TTL", [rec("a", 80, 30)], {}, [0, 31_500, 63_000]],
    ["a 1 s TTL is raised to minInterval", [rec("a", 80, 1)], {}, [0, 5_250, 10_500]],
    ["a TTL of 0 is raised to minInterval", [rec("a", 80, 0)], { minInterval: 2_000 }, [0, 2_100, 4_200]],
    ["a day-long TTL is lowered to maxInterval", [rec("a", 80, 86_400)], {}, [0, 315_000]],
    ["custom bounds", [rec("a", 80, 100)], { minInterval: 1_000, maxInterval: 20_000 }, [0, 21_000, 42_000]],
    ["the smallest TTL of the set", [rec("a", 80, 60), rec("b", 80, 20)], { jitter: 0 }, [0, 20_000, 40_000]],
    ["no jitter", [rec("a", 80, 30)], { jitter: 0 }, [0, 30_000, 60_000]],
    ["full jitter", [rec("a", 80, 10)], { jitter: 1 }, [0, 15_000, 30_000]],
    ["a fixed interval ignores the TTL", [rec("a", 80, 30)], { interval: 7_000, jitter: 0 }, [
      0,
      7_000,
      14_000,
    ]],
    ["a fixed interval is jittered too", [rec("a", 80, 30)], { interval: 7_000 }, [0, 7_350, 14_700]],
    ["no TTL (Node's resolver) uses the fallback", [rec("a", 80)], {}, [0, 31_500]],
    ["a custom fallback", [rec("a", 80)], { fallbackInterval: 12_000, jitter: 0 }, [0, 12_000, 24_000]],
  ];
  for (const [label, records, options, times] of cases) {
    await t.step(label, async () => {
      const resolver = new ScriptedResolver(records);
      await withInstancer(resolver, options, async ({ clock }) => {
        const last = times[times.length - 1]!;
        await clock.tickAsync(last - 1);
        assert.deepStrictEqual(resolver.times(), times.slice(0, -1), "not yet the last lookup");
        await clock.tickAsync(1);
        assert.deepStrictEqual(resolver.times(), times);
      });
    });
  }
});

Deno.test("DnsSrvInstancer draws a fresh jitter for every pause from the injected random source", async () => {
  const draws = [0, 0.999, 0.25];
  const resolver = new ScriptedResolver([rec("a", 80, 10)]);
  await withInstancer(resolver, { random: () => draws.shift() ?? 0 }, async ({ clock }) => {
    await clock.tickAsync(10_000 + 10_999 + 10_250);
    assert.deepStrictEqual(resolver.times(), [0, 10_000, 20_999, 31_249]);
  });
});

Deno.test("DnsSrvInstancer backs off exponentially after failures and resets after a success", async () => {
  const failure = new DnsError("ESERVFAIL", "querySrv", NAME);
  const resolver = new ScriptedResolver(failure, failure, failure, [rec("a", 80, 10)], failure, [
    rec("a", 80, 10),
  ]);
  // Backoff has "equal jitter": half the capped delay plus random() (0.5) times the other half.
  await withInstancer(resolver, { jitter: 0 }, async ({ clock, events }) => {
    await clock.tickAsync(16_000);
    assert.deepStrictEqual(resolver.times(), [0, 750, 2_250, 5_250, 15_250, 16_000]);
    assert.deepStrictEqual(events, ["error:ESERVFAIL", "[a:80]", "error:ESERVFAIL", "[a:80]"]);
  });
});

Deno.test("DnsSrvInstancer caps the backoff at backoff.max", async () => {
  const resolver = new ScriptedResolver(new Error("down"));
  await withInstancer(
    resolver,
    { backoff: { initial: 1_000, max: 4_000, multiplier: 2 } },
    async ({ clock }) => {
      await clock.tickAsync(750 + 1_500 + 3_000 + 3_000 + 3_000);
      assert.deepStrictEqual(resolver.times(), [0, 750, 2_250, 5_250, 8_250, 11_250]);
    },
  );
});

Deno.test("DnsSrvInstancer keeps the last good endpoints through a failure and logs it", async () => {
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (m, d) => void warnings.push([m, d]), error() {} };
  const failure = new DnsError("ETIMEOUT", "querySrv", NAME);
  const resolver = new ScriptedResolver([rec("a", 80, 10), rec("b", 80, 10)], failure, [rec("a", 80, 10)]);
  await withInstancer(resolver, { jitter: 0, logger }, async ({ clock, instancer, events }) => {
    const endpointer = new DefaultEndpointer(
      instancer,
      (instance) => ({ endpoint: () => Promise.resolve(instance) }),
    );
    try {
      await clock.tickAsync(0);
      assert.equal(endpointer.endpoints().length, 2);
      await clock.tickAsync(10_000);
      assert.deepStrictEqual(events, ["[a:80,b:80]", "error:ETIMEOUT"]);
      assert.equal(instancer.state()?.error, failure);
      assert.deepStrictEqual(endpointer.entries().map((e) => e.instance), ["a:80", "b:80"]);
      assert.deepStrictEqual(warnings, [["SRV lookup failed; keeping the last good state", {
        name: NAME,
        error: failure,
      }]]);
      await clock.tickAsync(750);
      assert.deepStrictEqual(events.slice(2), ["[a:80]"]);
      assert.deepStrictEqual(endpointer.entries().map((e) => e.instance), ["a:80"]);
    } finally {
      endpointer.close();
    }
  });
});

Deno.test("DnsSrvInstancer does not re-send an unchanged set", async () => {
  const resolver = new ScriptedResolver([rec("a.", 80, 5, 1, 1)], [rec("a", 80, 5, 1, 1)], [
    rec("a", 80, 5, 1, 2),
  ]);
  await withInstancer(resolver, { jitter: 0 }, async ({ clock, events, instancer }) => {
    await clock.tickAsync(10_000);
    assert.equal(resolver.calls.length, 3);
    assert.deepStrictEqual(events, ["[a:80]", "[a:80]"], "the second event carries the new weight");
    assert.deepStrictEqual(instancer.details("a:80"), { priority: 1, weight: 2 });
  });
});

Deno.test("DnsSrvInstancer skips a port-0 record with a warning and errors only when none is left (go-kit TestIssue892)", async () => {
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (m) => void warnings.push(m), error() {} };
  const resolver = new ScriptedResolver(
    [rec("a", 80, 10), rec("k8s-unnamed", 0, 10)],
    [rec("k8s-unnamed", 0, 10)],
  );
  await withInstancer(resolver, { jitter: 0, logger }, async ({ clock, events, instancer }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[a:80]"]);
    assert.deepStrictEqual(warnings, ["SRV record skipped: port 0"]);
    await clock.tickAsync(10_000);
    assert.deepStrictEqual(events, ["[a:80]", "error:ENODATA"]);
    assert.ok(instancer.state()?.error instanceof DnsError);
  });
});

Deno.test("DnsSrvInstancer publishes an empty set for a lone '.' target", async () => {
  const resolver = new ScriptedResolver([rec("", 0, 60, 0, 0)]);
  await withInstancer(resolver, { jitter: 0 }, async ({ clock, events }) => {
    await clock.tickAsync(60_000);
    assert.deepStrictEqual(events, ["[]"]);
    assert.deepStrictEqual(resolver.times(), [0, 60_000], "the '.' answer's TTL still drives the schedule");
  });
});

Deno.test("DnsSrvInstancer resolves targets to addresses when asked", async (t) => {
  const cases: ["ipv4" | "ipv6" | "both", string][] = [
    ["ipv4", "[10.0.0.1:80]"],
    ["ipv6", "[[2001:db8::1]:80]"],
    ["both", "[10.0.0.1:80,[2001:db8::1]:80]"],
  ];
  for (const [mode, want] of cases) {
    await t.step(mode, async () => {
      const resolver = Object.assign(new ScriptedResolver([rec("a.example.", 80, 30)]), {
        resolve4: () => Promise.resolve([{ address: "10.0.0.1", ttl: 4 }]),
        resolve6: () => Promise.resolve([{ address: "2001:db8::1", ttl: 3 }]),
      });
      await withInstancer(resolver, { resolveTargets: mode, jitter: 0 }, async ({ clock, events }) => {
        await clock.tickAsync(5_000);
        assert.deepStrictEqual(events, [want]);
        assert.deepStrictEqual(
          resolver.times(),
          [0, 5_000],
          "address TTLs below minInterval give minInterval",
        );
      });
    });
  }
});

Deno.test("DnsSrvInstancer.stop() aborts a lookup in flight, publishes nothing more and leaves no timers", async () => {
  const resolver = new ScriptedResolver("hang");
  await withInstancer(resolver, {}, async ({ clock, instancer, events }) => {
    await clock.tickAsync(1_000);
    const signal = resolver.calls[0]!.options!.signal!;
    assert.equal(signal.aborted, false);
    instancer.stop();
    assert.equal(signal.aborted, true);
    assert.equal((signal.reason as DOMException).name, "AbortError");
    assert.equal(instancer.stopped, true);
    instancer.stop(); // idempotent, unlike go-kit's double Stop, which panics
    instancer[Symbol.dispose]();
    await clock.tickAsync(600_000);
    assert.deepStrictEqual(events, []);
    assert.equal(resolver.calls.length, 1);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("DnsSrvInstancer.stop() during the pause between lookups cancels the next one", async () => {
  const resolver = new ScriptedResolver([rec("a", 80, 30)]);
  await withInstancer(resolver, {}, async ({ clock, instancer }) => {
    await clock.tickAsync(1_000);
    assert.equal(clock.countTimers(), 1);
    instancer.stop();
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(600_000);
    assert.equal(resolver.calls.length, 1);
  });
});

Deno.test("DnsSrvInstancer reports ETIMEOUT when a lookup takes longer than its timeout, then backs off", async () => {
  const resolver = new ScriptedResolver("hang", [rec("a", 80, 30)]);
  await withInstancer(resolver, { timeout: 3_000 }, async ({ clock, events }) => {
    await clock.tickAsync(2_999);
    assert.deepStrictEqual(events, []);
    await clock.tickAsync(1);
    assert.deepStrictEqual(events, ["error:ETIMEOUT"]);
    assert.equal((resolver.calls[0]!.options!.signal!.reason as DOMException).name, "TimeoutError");
    await clock.tickAsync(750);
    assert.deepStrictEqual(resolver.times(), [0, 3_750]);
    assert.deepStrictEqual(events, ["error:ETIMEOUT", "[a:80]"]);
  });
});

Deno.test("DnsSrvInstancer times out a resolver that ignores its signal, as node:dns does", async () => {
  const resolver = new ScriptedResolver("deaf", [rec("a", 80, 30)]);
  await withInstancer(resolver, { timeout: 3_000 }, async ({ clock, events, instancer }) => {
    await clock.tickAsync(3_000);
    assert.deepStrictEqual(events, ["error:ETIMEOUT"]);
    await clock.tickAsync(750);
    assert.deepStrictEqual(events, ["error:ETIMEOUT", "[a:80]"]);
    // And stop() is not held up by such a lookup either.
    resolver.then("deaf");
    await clock.tickAsync(31_500);
    assert.equal(resolver.calls.length, 3);
    instancer.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("DnsSrvInstancer stops when its signal aborts, and never starts with an aborted one", async () => {
  const controller = new AbortController();
  const resolver = new ScriptedResolver([rec("a", 80, 30)]);
  await withInstancer(resolver, { signal: controller.signal }, async ({ clock, instancer }) => {
    await clock.tickAsync(0);
    controller.abort();
    assert.equal(instancer.stopped, true);
    await clock.tickAsync(600_000);
    assert.equal(resolver.calls.length, 1);
  });
  const idle = new ScriptedResolver([rec("a", 80, 30)]);
  const instancer = new DnsSrvInstancer(NAME, { resolver: idle, signal: AbortSignal.abort() });
  assert.equal(instancer.stopped, true);
  assert.equal(idle.calls.length, 0);
  // Without a resolver a DohResolver is made; with an aborted signal it is never asked.
  assert.equal(new DnsSrvInstancer(NAME, { signal: AbortSignal.abort() }).stopped, true);
});

Deno.test("DnsSrvInstancer.lookup() asks once and leaves the published state alone", async () => {
  const resolver = new ScriptedResolver([rec("a", 80, 30)]);
  await withInstancer(resolver, {}, async ({ clock, instancer, events }) => {
    await clock.tickAsync(0);
    resolver.then([rec("b.", 81, 7, 3, 4)]);
    const signal = new AbortController().signal;
    assert.deepStrictEqual(await instancer.lookup({ signal }), {
      instances: [{ instance: "b:81", priority: 3, weight: 4 }],
      ttl: 7,
    });
    assert.equal(resolver.calls[1]!.options!.signal, signal);
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[a:80]"]);
    assert.deepStrictEqual(instancer.state()?.instances, ["a:80"]);
    assert.throws(() => instancer.lookup({ signal: "x" as unknown as AbortSignal }), TypeError);
  });
});

Deno.test("DnsSrvInstancer rejects invalid arguments eagerly", () => {
  const resolver = new ScriptedResolver([]);
  const bad: [string, DnsSrvInstancerOptions, ErrorConstructor][] = [
    ["", { resolver }, TypeError],
    [NAME, { resolver: {} as SrvResolver }, TypeError],
    [NAME, { resolver, minInterval: 0 }, RangeError],
    [NAME, { resolver, maxInterval: 0 }, RangeError],
    [NAME, { resolver, minInterval: 10_000, maxInterval: 5_000 }, RangeError],
    [NAME, { resolver, fallbackInterval: 0 }, RangeError],
    [NAME, { resolver, interval: 0 }, RangeError],
    [NAME, { resolver, jitter: 1.5 }, RangeError],
    [NAME, { resolver, jitter: -0.1 }, RangeError],
    [NAME, { resolver, timeout: 0 }, RangeError],
    [NAME, { resolver, backoff: { initial: 0 } }, RangeError],
    [NAME, { resolver, backoff: { max: Number.NaN } }, TypeError],
    [NAME, { resolver, backoff: { multiplier: 0.5 } }, RangeError],
    [NAME, { resolver, resolveTargets: "ipv5" as "ipv4" }, TypeError],
    [NAME, { resolver, random: 0.5 as unknown as () => number }, TypeError],
    [NAME, { resolver, signal: "stop" as unknown as AbortSignal }, TypeError],
  ];
  for (const [name, options, type] of bad) {
    assert.throws(() => new DnsSrvInstancer(name, options), type, `${name} ${JSON.stringify(options)}`);
  }
  assert.equal(resolver.calls.length, 0);
});

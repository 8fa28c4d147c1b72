// Memory held per instance by a discovery pipeline: one InstanceCache feeding one DefaultEndpointer,
// 10,000 and 100,000 instances. `deno task bench:memory`, or
//   deno run --v8-flags=--expose-gc bench/memory.ts [--runs=7] [--sizes=10000,100000]
//
// Each run: full GC, heap used (the baseline), then the instance strings are made (as a backend would
// parse them from a registry answer) and handed to InstanceCache.update; full GC, heap used (the cache
// filled); an endpointer is built over the cache and its endpoints() read; full GC, heap used again.
// Bytes per instance, divided by n:
// - endpointer: after - filled, what the endpointer holds (its bookkeeping and the endpoints the
//   factory made; the instance strings are the cache's and shared). This is the figure issue #12
//   compares with go-kit;
// - whole pipeline: after - baseline, also the strings and the cache's state.
// Printed: the median of the runs and their range, as a Markdown table.
//
// Factories:
// - "shared endpoint": every instance gets the same endpoint function (what go-kit's tests and benchmark
//   use, endpoint.Nop), so only the library's own bookkeeping and the strings count;
// - "shared endpoint, entries() read": the same, with the entries built (a balancer that reads details,
//   or a change listener that reads event.entries, makes the endpointer build and keep them);
// - "closure per instance": `(instance) => ({ endpoint: () => Promise.resolve(instance) })`, the usual
//   hand-written factory (one closure and its context per instance);
// - "httpFactory": the library's HTTP factory (no fetch is made).
import { DefaultEndpointer } from "../src/endpointer.ts";
import { httpFactory } from "../src/http/factory.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import type { Endpoint, Factory } from "../src/types.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("Run with --v8-flags=--expose-gc (deno task bench:memory)");
  Deno.exit(2);
}

function arg(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

const RUNS = Number(arg("runs", "7"));
const SIZES = arg("sizes", "10000,100000").split(",").map(Number);

function heapUsed(): number {
  // Twice: the first collection can leave weak and finalised objects for the second.
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

/** `10.a.b.c:8080`, distinct for i < 2^24 (13 to 15 characters, like a real address). */
function host(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`;
}

const shared: Endpoint<unknown, unknown> = () => Promise.resolve(undefined);
/** Name, factory maker, and whether entries() is read too (as the balancers that use details do). */
const CASES: [string, () => Factory<unknown, unknown>, boolean][] = [
  ["shared endpoint", () => () => ({ endpoint: shared }), false],
  ["shared endpoint, entries() read", () => () => ({ endpoint: shared }), true],
  ["closure per instance", () => (instance) => ({ endpoint: () => Promise.resolve(instance) }), false],
  ["httpFactory", () => httpFactory() as unknown as Factory<unknown, unknown>, false],
];

/** One measurement: bytes held per instance by the whole pipeline, and by the endpointer alone. */
async function once(
  n: number,
  makeFactory: () => Factory<unknown, unknown>,
  readEntries: boolean,
): Promise<{ pipeline: number; endpointer: number }> {
  const factory = makeFactory();
  const before = heapUsed();
  const cache = new InstanceCache();
  {
    const list = new Array<string>(n);
    for (let i = 0; i < n; i++) list[i] = host(i);
    cache.update({ instances: list });
  }
  const filled = heapUsed();
  const endpointer = new DefaultEndpointer(cache, factory);
  await endpointer.ready();
  if (endpointer.endpoints().length !== n) throw new Error(`expected ${n} endpoints`);
  if (readEntries && endpointer.entries().length !== n) throw new Error(`expected ${n} entries`);
  const after = heapUsed();
  // Used after the measurement, so that neither can be collected before it.
  if (endpointer.endpoints().length !== n || cache.state() === undefined) throw new Error("lost state");
  endpointer.close();
  cache.stop();
  return { pipeline: (after - before) / n, endpointer: (after - filled) / n };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

console.log(`Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${RUNS} runs each, bytes per instance`);
console.log("| factory | instances | endpointer: median (min - max) | whole pipeline: median (min - max) |");
console.log("| --- | --: | --: | --: |");
const fmt = (values: number[]) =>
  `${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)} - ${Math.max(...values).toFixed(1)})`;
for (const [name, makeFactory, readEntries] of CASES) {
  for (const n of SIZES) {
    // One unmeasured run first: it settles lazily allocated code, maps and feedback.
    await once(n, makeFactory, readEntries);
    const endpointer: number[] = [];
    const pipeline: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const result = await once(n, makeFactory, readEntries);
      endpointer.push(result.endpointer);
      pipeline.push(result.pipeline);
    }
    console.log(`| ${name} | ${n.toLocaleString("en")} | ${fmt(endpointer)} | ${fmt(pipeline)} |`);
  }
}

// Loopback throughput and latency of balancedFetch against raw fetch (#12 item 1), finely interleaved.
//
//   deno task bench:throughput [runs]      (deno run --allow-net=127.0.0.1 --allow-read bench/throughput.ts)
//
// One HTTP server on 127.0.0.1 in a Worker (its own event loop, so the client's work does not delay it).
// Five clients: raw `fetch(url)`, twice (the second is a control: its ratio to the first is the bench's
// own noise); `balancedFetch` with default options (no deadline, as fetch); and the last two with a 10 s
// deadline (raw: an AbortController and a timer cleared when the headers arrive,
// what a careful caller writes; balancedFetch: `timeout: 10_000`). A run is 10 rounds; in each round
// every client, in an order that rotates, sends a block of 1,000 requests from 32 closed-loop
// connections, then 200 one after another. Blocks this short and this interleaved put the machine's
// drift on every client alike. Per round and client: the block's throughput and the p50 of its
// sequential requests, and their ratios to raw fetch's in the same round. Prints the median over all
// rounds with the quartiles, and the range of the per-run medians. Bounded: at most 15 runs, and it
// stops starting runs after 150 s.
import { FixedInstancer } from "../src/fixed.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { balancedFetch } from "../src/http/balanced_fetch.ts";
import { httpFactory } from "../src/http/factory.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";

const RUNS = Math.min(15, Number(Deno.args[0] ?? 7));
const ROUNDS = 10;
const CONCURRENCY = 32;
const BLOCK = 1_000;
const SEQUENTIAL = 200;
const LIMIT_MS = 150_000;
const DEADLINE_MS = 10_000;

type Get = (path: string) => Promise<Response>;

const worker = new Worker(new URL("./_throughput_server.ts", import.meta.url), { type: "module" });
const port = await new Promise<number>((resolve) => worker.onmessage = (e) => resolve(e.data));
const origin = `http://127.0.0.1:${port}`;
const started = performance.now();

using endpointer = new DefaultEndpointer(new FixedInstancer([`127.0.0.1:${port}`]), httpFactory());
await endpointer.ready();
const balancer = new RoundRobinBalancer(endpointer);

const clients: Record<string, Get> = {
  "raw fetch": (path) => fetch(origin + path),
  // The same client again: its ratio to raw fetch shows what the bench itself cannot tell apart.
  "raw fetch (control)": (path) => fetch(origin + path),
  "balancedFetch, defaults": balancedFetch(balancer),
  "raw fetch, 10 s deadline": (path) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), DEADLINE_MS);
    return fetch(origin + path, { signal: controller.signal }).finally(() => clearTimeout(timer));
  },
  "balancedFetch, timeout 10 s": balancedFetch(balancer, { timeout: DEADLINE_MS }),
};
const names = Object.keys(clients);

/** Sends `BLOCK` requests from `CONCURRENCY` closed-loop connections; returns the elapsed ms. */
async function block(get: Get): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < BLOCK) {
      next++;
      await (await get("/x")).arrayBuffer();
    }
  }));
  return performance.now() - t0;
}

/** Sends `SEQUENTIAL` requests one after another; appends each one's time (µs) to `into`. */
async function sequential(get: Get, into: number[]): Promise<void> {
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    await (await get("/x")).arrayBuffer();
    into.push((performance.now() - t0) * 1000);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// Per client, one figure per round: the block's throughput and the p50 of its sequential requests.
const rounds = Object.fromEntries(names.map((n) => [n, { rps: [] as number[], p50: [] as number[] }]));
// Warm-up: connections, JIT.
for (const name of names) {
  await block(clients[name]!);
  await sequential(clients[name]!, []);
}
let runs = 0;
for (let run = 0; run < RUNS && performance.now() - started < LIMIT_MS; run++, runs++) {
  for (let round = 0; round < ROUNDS; round++) {
    const shift = (run * ROUNDS + round) % names.length;
    for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
      rounds[name]!.rps.push(BLOCK / ((await block(clients[name]!)) / 1000));
      const samples: number[] = [];
      await sequential(clients[name]!, samples);
      rounds[name]!.p50.push(median(samples));
    }
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
/** Median over the rounds, with the quartiles, and the range of the per-run medians. */
function spread(values: number[], digits: number): string {
  const perRun = Array.from({ length: runs }, (_, r) => median(values.slice(r * ROUNDS, (r + 1) * ROUNDS)));
  const f = (x: number) => x.toFixed(digits);
  return `${f(median(values))} [${f(quantile(values, 0.25))}-${f(quantile(values, 0.75))}] ` +
    `(runs ${f(Math.min(...perRun))}-${f(Math.max(...perRun))})`;
}
const ratio = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
console.log(
  `${runs} runs x ${ROUNDS} rounds (${CONCURRENCY} concurrent: ${BLOCK} requests per block; sequential: ` +
    `${SEQUENTIAL}); median over the rounds [quartiles] (range of the per-run medians)`,
);
for (const name of names) {
  const r = rounds[name]!;
  console.log(`${name.padEnd(28)} ${spread(r.rps, 0)} req/s; sequential p50 ${spread(r.p50, 1)} us`);
}
for (
  const [label, a, b] of [
    ["raw fetch (control) / raw fetch", "raw fetch (control)", "raw fetch"],
    ["balancedFetch, defaults / raw fetch", "balancedFetch, defaults", "raw fetch"],
    ["both with a 10 s deadline", "balancedFetch, timeout 10 s", "raw fetch, 10 s deadline"],
    ["balancedFetch, timeout 10 s / raw fetch", "balancedFetch, timeout 10 s", "raw fetch"],
  ] as const
) {
  // Ratios of the same round: the two blocks ran seconds apart at most.
  console.log(
    `ratio ${label.padEnd(40)} throughput ${spread(ratio(rounds[a]!.rps, rounds[b]!.rps), 3)}x; ` +
      `sequential p50 ${spread(ratio(rounds[a]!.p50, rounds[b]!.p50), 3)}x`,
  );
}

worker.postMessage("close");
await new Promise((resolve) => worker.onmessage = resolve);
worker.terminate();

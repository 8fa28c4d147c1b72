// Loopback throughput and latency of balancedFetch against raw fetch (#12 item 1), interleaved runs.
//
//   deno run --allow-net=127.0.0.1 --allow-read bench/throughput.ts [runs]
//
// One HTTP server on 127.0.0.1 in a Worker. Per run and client, in alternating order: 32 concurrent
// closed-loop clients for 4,000 requests (throughput), then 1,000 sequential requests (p50 latency).
// Bounded: at most 15 runs, and the script stops after 120 s. Prints medians over the runs, their
// range, and the ratios balancedFetch / raw fetch.
import { FixedInstancer } from "../src/fixed.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { balancedFetch } from "../src/http/balanced_fetch.ts";
import { httpFactory } from "../src/http/factory.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";

const RUNS = Math.min(15, Number(Deno.args[0] ?? 7));
const CONCURRENCY = 32;
const CONCURRENT_REQUESTS = 4_000;
const SEQUENTIAL_REQUESTS = 1_000;
const LIMIT_MS = 120_000;

type Get = (path: string) => Promise<Response>;

const worker = new Worker(new URL("./_throughput_server.ts", import.meta.url), { type: "module" });
const port = await new Promise<number>((resolve) => worker.onmessage = (e) => resolve(e.data));
const origin = `http://127.0.0.1:${port}`;
const started = performance.now();

const raw: Get = (path) => fetch(origin + path);
using endpointer = new DefaultEndpointer(new FixedInstancer([`127.0.0.1:${port}`]), httpFactory());
await endpointer.ready();
const balanced: Get = balancedFetch(new RoundRobinBalancer(endpointer));

async function throughput(get: Get): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < CONCURRENT_REQUESTS) {
      next++;
      await (await get("/x")).arrayBuffer();
    }
  }));
  return CONCURRENT_REQUESTS / ((performance.now() - t0) / 1000);
}

async function sequentialP50(get: Get): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL_REQUESTS; i++) {
    const t0 = performance.now();
    await (await get("/x")).arrayBuffer();
    times.push(performance.now() - t0);
  }
  return median(times) * 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const results = {
  raw: { rps: [] as number[], p50: [] as number[] },
  balanced: { rps: [] as number[], p50: [] as number[] },
};
const ratios = { rps: [] as number[], p50: [] as number[] };
// Warm-up: connections, JIT.
await throughput(raw);
await throughput(balanced);
for (let run = 0; run < RUNS && performance.now() - started < LIMIT_MS; run++) {
  const order = run % 2 === 0 ? (["raw", "balanced"] as const) : (["balanced", "raw"] as const);
  for (const name of order) {
    const get = name === "raw" ? raw : balanced;
    results[name].rps.push(await throughput(get));
    results[name].p50.push(await sequentialP50(get));
  }
  ratios.rps.push(results.balanced.rps.at(-1)! / results.raw.rps.at(-1)!);
  ratios.p50.push(results.balanced.p50.at(-1)! / results.raw.p50.at(-1)!);
}

const range = (v: number[], digits: number) =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}-${Math.max(...v).toFixed(digits)})`;
const n = ratios.rps.length;
console.log(`${n} interleaved runs; median (min-max)`);
console.log(
  `raw fetch       ${CONCURRENCY} concurrent: ${range(results.raw.rps, 0)} req/s; sequential p50 ${
    range(results.raw.p50, 0)
  } us`,
);
console.log(
  `balancedFetch   ${CONCURRENCY} concurrent: ${range(results.balanced.rps, 0)} req/s; sequential p50 ${
    range(results.balanced.p50, 0)
  } us`,
);
console.log(
  `ratio balancedFetch / raw: throughput ${range(ratios.rps, 3)}x; sequential p50 ${range(ratios.p50, 3)}x`,
);

worker.postMessage("close");
await new Promise((resolve) => worker.onmessage = resolve);
worker.terminate();

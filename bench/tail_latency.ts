// Tail latency per balancer with a slow or stalling host (#12 item 4), in the style of the tower/Linkerd
// demo: 10 HTTP servers on 127.0.0.1, a closed-loop client through balancedFetch, interleaved runs.
//
//   deno task bench:tail                      # 5 runs, servers in a Worker
//   deno run --allow-net=127.0.0.1 --allow-read --allow-run bench/tail_latency.ts \
//     [--runs=5] [--servers=worker|child|inline] [--only=a|b] [--match=<balancer name part>] [--variants]
//     [--calibrate] [--verbose]
//
// Scenarios (the table of issue #12):
//   a. 10 hosts at 5 ms; one of them stalls 200 ms on 20% of its requests; 32 concurrent; 5,000 requests.
//   b. 9 hosts at 5 ms, one at 50 ms; 8 concurrent; 2,000 requests.
// Each of N workers sends its next request when the last one's body has been read. Every run builds a
// fresh endpointer and balancer (so latency-aware balancers learn from scratch within the run) and resets
// the servers' seeded stall sequences. Balancers take turns in a rotating order within each run; the
// summary gives medians over the runs and their range. Bounded: at most 15 runs, each run of one
// balancer stops sending after 60 s, and no run starts after 12 minutes.
//
// Every response carries the delay its server meant to add (`x-delay`) and how long it really held the
// request (`x-held`), so the script also splits what the bench itself adds: "timer late" (held minus
// injected: setTimeout fires late) and "rest" (observed minus held: loopback, scheduling, the client).
// --calibrate runs only round robin with every host at 5 ms, for each way of running the servers
// (in this event loop, in a Worker, in a child process), to show which distorts less.
//
// A benchmark, not a test: it asserts nothing; the goal columns are for reading.
import { FixedInstancer } from "../src/fixed.ts";
import { DefaultEndpointer } from "../src/endpointer.ts";
import { balancedFetch } from "../src/http/balanced_fetch.ts";
import { httpFactory } from "../src/http/factory.ts";
import type { Balancer } from "../src/lb/balancer.ts";
import { LeastRequestBalancer } from "../src/lb/least_request.ts";
import { OutlierEjectionBalancer } from "../src/lb/outlier.ts";
import { PeakEwmaBalancer } from "../src/lb/peak_ewma.ts";
import { RandomBalancer } from "../src/lb/random.ts";
import { Rfc2782Balancer } from "../src/lb/rfc2782.ts";
import { RoundRobinBalancer } from "../src/lb/round_robin.ts";
import { type Command, type HostPlan, startTailServers } from "./_tail_servers.ts";

type Mode = "inline" | "worker" | "child";
type Ep = DefaultEndpointer<Request, Response>;

const args = new Map(Deno.args.map((a) => {
  const [k, v] = a.replace(/^--/, "").split("=");
  return [k!, v ?? "true"] as const;
}));
const RUNS = Math.min(15, Number(args.get("runs") ?? 5));
const MODE = (args.get("servers") ?? "worker") as Mode;
const CALIBRATE = args.has("calibrate");
const VERBOSE = args.has("verbose");
const ONLY = args.get("only");
const RUN_LIMIT_MS = 60_000;
const TOTAL_LIMIT_MS = 12 * 60_000;
const HOSTS = 10;
const SLOW = 3; // index of the slow or stalling host

interface Scenario {
  id: string;
  title: string;
  concurrency: number;
  requests: number;
  hosts: HostPlan[];
  goal: (s: Summary) => string;
}

const plain = (delay: number, i: number): HostPlan => ({ delay, stall: 0, stallShare: 0, seed: 1000 + i });
const SCENARIOS: Scenario[] = [
  {
    id: "a",
    title: "10 hosts at 5 ms, one stalls 200 ms on 20% of its requests, 32 concurrent, 5,000 requests",
    concurrency: 32,
    requests: 5_000,
    hosts: Array.from(
      { length: HOSTS },
      (_, i) => i === SLOW ? { ...plain(5, i), stall: 200, stallShare: 0.2 } : plain(5, i),
    ),
    goal: (s) => (s.p99 <= 45 ? "yes" : "no"),
  },
  {
    id: "b",
    title: "9 hosts at 5 ms, one at 50 ms, 8 concurrent, 2,000 requests",
    concurrency: 8,
    requests: 2_000,
    hosts: Array.from({ length: HOSTS }, (_, i) => plain(i === SLOW ? 50 : 5, i)),
    goal: (
      s,
    ) => (s.p90 <= 12 && s.rps >= 880
      ? "yes"
      : s.p90 <= 12
      ? "p90 only"
      : s.rps >= 880
      ? "req/s only"
      : "no"),
  },
];
const CALIBRATION: Scenario[] = [
  {
    id: "c32",
    title: "10 hosts at 5 ms, 32 concurrent, 5,000 requests (ideal: 5 ms, 6,400 req/s)",
    concurrency: 32,
    requests: 5_000,
    hosts: Array.from({ length: HOSTS }, (_, i) => plain(5, i)),
    goal: () => "",
  },
  {
    id: "c8",
    title: "10 hosts at 5 ms, 8 concurrent, 2,000 requests (ideal: 5 ms, 1,600 req/s)",
    concurrency: 8,
    requests: 2_000,
    hosts: Array.from({ length: HOSTS }, (_, i) => plain(5, i)),
    goal: () => "",
  },
];

const BALANCERS: [string, (e: Ep) => Balancer<Request, Response>][] = [
  ["round robin", (e) => new RoundRobinBalancer(e)],
  ["random", (e) => new RandomBalancer(e)],
  ["RFC 2782, equal weights", (e) => new Rfc2782Balancer(e)],
  ["P2C least request", (e) => new LeastRequestBalancer(e)],
  ["P2C Peak-EWMA", (e) => new PeakEwmaBalancer(e)],
  ["outlier ejection (round robin)", (e) => new OutlierEjectionBalancer(e, (s) => new RoundRobinBalancer(s))],
  ["outlier ejection (P2C Peak-EWMA)", (e) => new OutlierEjectionBalancer(e, (s) => new PeakEwmaBalancer(s))],
];
// --variants: configurations that test a hypothesis about a miss, not part of the standard table.
const VARIANTS: [string, (e: Ep) => Balancer<Request, Response>][] = [
  ["P2C Peak-EWMA, defaultRtt 5", (e) => new PeakEwmaBalancer(e, { defaultRtt: 5 })],
  ["P2C Peak-EWMA, decay 1 s", (e) => new PeakEwmaBalancer(e, { decay: 1_000 })],
  [
    "outlier (RR), attemptTimeout 25",
    (e) => new OutlierEjectionBalancer(e, (s) => new RoundRobinBalancer(s)),
  ],
];
const ATTEMPT_TIMEOUT = new Map([["outlier (RR), attemptTimeout 25", 25]]);

// ---- the servers, three ways ----

interface Servers {
  mode: Mode;
  ports: number[];
  plan(hosts: HostPlan[]): Promise<void>;
  close(): Promise<void>;
}

async function startServers(mode: Mode): Promise<Servers> {
  const module = new URL("./_tail_servers.ts", import.meta.url);
  if (mode === "inline") {
    const s = startTailServers(HOSTS);
    return { mode, ports: s.ports, plan: (hosts) => Promise.resolve(s.plan(hosts)), close: () => s.close() };
  }
  if (mode === "worker") {
    const worker = new Worker(module, { type: "module" });
    const next = () => new Promise<unknown>((resolve) => worker.onmessage = (e) => resolve(e.data));
    const ports = await next() as number[];
    const send = async (command: Command) => {
      const answer = next();
      worker.postMessage(command);
      await answer;
    };
    return {
      mode,
      ports,
      plan: (hosts) => send({ op: "plan", hosts }),
      close: async () => {
        await send({ op: "close" });
        worker.terminate();
      },
    };
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", module.href],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const next = async (): Promise<unknown> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("Server process ended");
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return JSON.parse(line);
  };
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const send = async (command: Command) => {
    await writer.write(encoder.encode(JSON.stringify(command) + "\n"));
    await next();
  };
  const ports = await next() as number[];
  return {
    mode,
    ports,
    plan: (hosts) => send({ op: "plan", hosts }),
    close: async () => {
      await send({ op: "close" });
      await writer.close();
      await lines.cancel();
      await child.status;
    },
  };
}

// ---- one run ----

interface Summary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  rps: number;
  /** Server timer lateness (held minus injected), ms. */
  late50: number;
  late99: number;
  /** Everything else (observed minus held: loopback, scheduling, the client), ms. */
  rest50: number;
  rest99: number;
  failed: number;
  /** Share of the requests answered by the slow host, over the whole run and over its second half. */
  slowShare: number;
  slowShareLate: number;
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function run(
  servers: Servers,
  scenario: Scenario,
  make: (e: Ep) => Balancer<Request, Response>,
  attemptTimeout?: number,
): Promise<Summary> {
  await servers.plan(scenario.hosts);
  const instances = servers.ports.map((port) => ({ instance: `127.0.0.1:${port}`, priority: 10, weight: 1 }));
  using endpointer = new DefaultEndpointer(new FixedInstancer(instances), httpFactory());
  await endpointer.ready();
  const get = balancedFetch(make(endpointer), attemptTimeout === undefined ? {} : { attemptTimeout });
  const latency = new Float64Array(scenario.requests);
  const late = new Float64Array(scenario.requests);
  const rest = new Float64Array(scenario.requests);
  let next = 0;
  let done = 0;
  let failed = 0;
  let slow = 0;
  let slowLate = 0;
  const t0 = performance.now();
  const stopAt = t0 + RUN_LIMIT_MS;
  await Promise.all(Array.from({ length: scenario.concurrency }, async () => {
    while (next < scenario.requests && performance.now() < stopAt) {
      next++;
      const start = performance.now();
      let injected = 0;
      let held = 0;
      try {
        const response = await get("/");
        injected = Number(response.headers.get("x-delay") ?? 0);
        held = Number(response.headers.get("x-held") ?? 0);
        if (response.headers.get("x-host") === String(SLOW)) {
          slow++;
          if (done >= scenario.requests / 2) slowLate++;
        }
        await response.arrayBuffer();
        if (!response.ok) failed++;
      } catch {
        failed++;
      }
      const ms = performance.now() - start;
      latency[done] = ms;
      late[done] = held - injected;
      rest[done] = ms - held;
      done++;
    }
  }));
  const elapsed = performance.now() - t0;
  const lat = latency.subarray(0, done).sort();
  const lateSorted = late.subarray(0, done).sort();
  const restSorted = rest.subarray(0, done).sort();
  return {
    p50: quantile(lat, 0.5),
    p90: quantile(lat, 0.9),
    p99: quantile(lat, 0.99),
    p999: quantile(lat, 0.999),
    rps: done / (elapsed / 1000),
    late50: quantile(lateSorted, 0.5),
    late99: quantile(lateSorted, 0.99),
    rest50: quantile(restSorted, 0.5),
    rest99: quantile(restSorted, 0.99),
    failed,
    slowShare: slow / done,
    slowShareLate: slowLate / Math.max(1, done - Math.ceil(scenario.requests / 2)),
  };
}

// ---- the runs ----

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const fmt = (v: number, digits: number) => v.toFixed(digits);
const range = (v: number[], digits: number) =>
  v.length === 1
    ? fmt(v[0]!, digits)
    : `${fmt(median(v), digits)} (${fmt(Math.min(...v), digits)}-${fmt(Math.max(...v), digits)})`;

const started = performance.now();
const modes: Mode[] = CALIBRATE ? ["inline", "worker", "child"] : [MODE];
const scenarios = CALIBRATE ? CALIBRATION : SCENARIOS.filter((s) => ONLY === undefined || s.id === ONLY);
const entries: [string, (e: Ep) => Balancer<Request, Response>][] = CALIBRATE
  ? [BALANCERS[0]!]
  : args.has("variants")
  ? [...BALANCERS, ...VARIANTS].filter(([name]) => name.includes(args.get("match") ?? ""))
  : BALANCERS.filter(([name]) => name.includes(args.get("match") ?? ""));
const all: Servers[] = [];
for (const mode of modes) all.push(await startServers(mode));

// Cells: scenario x (balancer or server mode) -> summaries, one per run.
const cells = new Map<string, Summary[]>();
const key = (scenario: string, column: string) => `${scenario}\u0000${column}`;
const columns = CALIBRATE ? modes.map((m) => `round robin, servers ${m}`) : entries.map(([name]) => name);

// Warm-up: connections to every server, and the JIT, one short pass per scenario and column.
for (const servers of all) {
  for (const scenario of scenarios) {
    await run(servers, { ...scenario, requests: Math.min(500, scenario.requests) }, entries[0]![1]);
  }
}

const loadBefore = Deno.loadavg();
let runs = 0;
for (let r = 0; r < RUNS && performance.now() - started < TOTAL_LIMIT_MS; r++, runs++) {
  for (const scenario of scenarios) {
    const jobs = CALIBRATE
      ? all.map((servers, i) => ({ servers, make: entries[0]![1], column: columns[i]! }))
      : entries.map(([name, make]) => ({ servers: all[0]!, make, column: name }));
    // Rotate the order each run so that no balancer always runs first or last.
    for (let j = 0; j < jobs.length; j++) {
      const job = jobs[(j + r) % jobs.length]!;
      const summary = await run(job.servers, scenario, job.make, ATTEMPT_TIMEOUT.get(job.column));
      const k = key(scenario.id, job.column);
      cells.set(k, [...(cells.get(k) ?? []), summary]);
      if (VERBOSE) {
        console.log(
          `run ${r + 1} ${scenario.id} ${job.column.padEnd(34)} p50 ${fmt(summary.p50, 1)} p90 ${
            fmt(summary.p90, 1)
          } p99 ${fmt(summary.p99, 1)} p99.9 ${fmt(summary.p999, 1)} ms, ${fmt(summary.rps, 0)} req/s`,
        );
      }
    }
  }
}
const loadAfter = Deno.loadavg();

console.log(
  `${runs} interleaved runs, servers: ${modes.join(", ")}; median over runs (min-max); latency in ms` +
    ` (load average ${loadBefore[0]!.toFixed(2)} before, ${
      loadAfter[0]!.toFixed(2)
    } after, ${navigator.hardwareConcurrency} cores)`,
);
for (const scenario of scenarios) {
  console.log(`\n${scenario.id}. ${scenario.title}`);
  console.log(
    `${"balancer".padEnd(34)} ${"p50".padEnd(18)} ${"p90".padEnd(18)} ${"p99".padEnd(20)} ${
      "p99.9".padEnd(20)
    } ${"req/s".padEnd(20)} ${"timer late p50/p99".padEnd(19)} ${"rest p50/p99".padEnd(15)} ${
      "slow host %".padEnd(12)
    } goal`,
  );
  for (const column of columns) {
    const s = cells.get(key(scenario.id, column)) ?? [];
    if (s.length === 0) continue;
    const pick = (f: (x: Summary) => number) => s.map(f);
    const med: Summary = {
      p50: median(pick((x) => x.p50)),
      p90: median(pick((x) => x.p90)),
      p99: median(pick((x) => x.p99)),
      p999: median(pick((x) => x.p999)),
      rps: median(pick((x) => x.rps)),
      late50: median(pick((x) => x.late50)),
      late99: median(pick((x) => x.late99)),
      rest50: median(pick((x) => x.rest50)),
      rest99: median(pick((x) => x.rest99)),
      failed: s.reduce((a, x) => a + x.failed, 0),
      slowShare: median(pick((x) => x.slowShare)),
      slowShareLate: median(pick((x) => x.slowShareLate)),
    };
    console.log(
      `${column.padEnd(34)} ${range(pick((x) => x.p50), 1).padEnd(18)} ${
        range(pick((x) => x.p90), 1).padEnd(18)
      } ${range(pick((x) => x.p99), 1).padEnd(20)} ${range(pick((x) => x.p999), 1).padEnd(20)} ${
        range(pick((x) => x.rps), 0).padEnd(20)
      } ${`${fmt(med.late50, 2)} / ${fmt(med.late99, 1)}`.padEnd(19)} ${
        `${fmt(med.rest50, 2)} / ${fmt(med.rest99, 1)}`.padEnd(15)
      } ${`${fmt(100 * med.slowShare, 1)} / ${fmt(100 * med.slowShareLate, 1)}`.padEnd(12)} ${
        scenario.goal(med)
      }${med.failed > 0 ? ` (${med.failed} failed)` : ""}`,
    );
  }
}
if (!CALIBRATE) {
  console.log("\ngoals: a. p99 <= 45 ms; b. p90 <= 12 ms and >= 880 req/s (judged on the medians)");
}

for (const servers of all) await servers.close();

// How late ConsulInstancer's default pacing shows a change, against the real agent (SD_CONSUL_ADDR;
// see tests/integration/README.md). Each run watches a service of its own with the default options,
// lets the instancer settle for 16 s (a full token bucket under any pacing), then registers three
// instances GAP ms apart and measures, for each change, the time from the agent's answer to the
// register call to the instancer's event that shows it. The third change is "a change that follows
// two others within 15 s" (issue #12). Runs go in parallel; medians and the spread are printed.
//   flock -s scripts/servers/consul.sh deno run --allow-net=127.0.0.1 --allow-env bench/consul_pacing.ts [runs] [gap ms]
// (the shared lock keeps tests that restart the agent from running meanwhile).
import { ConsulClient, ConsulInstancer } from "../src/consul/mod.ts";

const address = Deno.env.get("SD_CONSUL_ADDR")?.trim();
if (!address) {
  console.error('set SD_CONSUL_ADDR (eval "$(bash scripts/servers/consul.sh env)")');
  Deno.exit(2);
}
const RUNS = Number(Deno.args[0] ?? 5);
const GAP = Number(Deno.args[1] ?? 2_000);
const SETTLE = 16_000;
const client = new ConsulClient({ address });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(n: number): Promise<number[]> {
  const name = `pacing-bench-${crypto.randomUUID().slice(0, 8)}`;
  const instancer = new ConsulInstancer(client, name);
  const seen = new Map<string, number>();
  instancer.subscribe((event) => {
    for (const instance of event.instances ?? []) {
      if (!seen.has(instance)) seen.set(instance, performance.now());
    }
  });
  const ids: string[] = [];
  try {
    await sleep(SETTLE);
    const written: [string, number][] = [];
    for (let i = 1; i <= 3; i++) {
      const port = 9400 + n * 10 + i;
      const id = `${name}-${i}`;
      await client.registerService({ ID: id, Name: name, Address: "127.0.0.1", Port: port });
      ids.push(id);
      written.push([`127.0.0.1:${port}`, performance.now()]);
      if (i < 3) await sleep(GAP);
    }
    const deadline = performance.now() + 30_000;
    while (written.some(([instance]) => !seen.has(instance)) && performance.now() < deadline) await sleep(5);
    return written.map(([instance, at]) => (seen.get(instance) ?? NaN) - at);
  } finally {
    instancer.stop();
    for (const id of ids) await client.deregisterService(id).catch(() => {});
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const results = await Promise.all(Array.from({ length: RUNS }, (_, i) => run(i)));
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(`${RUNS} runs, changes ${GAP} ms apart, default pacing; delay from write to event:`);
for (let c = 0; c < 3; c++) {
  const xs = results.map((r) => r[c]!);
  console.log(
    `  change ${c + 1}: median ${fmt(median(xs))}, min ${fmt(Math.min(...xs))}, max ${fmt(Math.max(...xs))}`,
  );
}

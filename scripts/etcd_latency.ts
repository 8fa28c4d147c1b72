// Change-propagation latency of the etcd backend against a real etcd: the time from sending a put (or
// delete) under a watched prefix to the DefaultEndpointer's `change` event, over many changes, with
// p50/p90/p99/max. Target on loopback: p99 under 50 ms. Without SD_ETCD_ENDPOINTS it says it skipped.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno run --allow-net=127.0.0.1 --allow-env=SD_ETCD_ENDPOINTS scripts/etcd_latency.ts [changes]
import { DefaultEndpointer } from "../src/endpointer.ts";
import { EtcdClient, EtcdInstancer } from "../src/etcd/mod.ts";

const endpoints = Deno.env.get("SD_ETCD_ENDPOINTS")?.trim();
if (!endpoints) {
  console.log("etcd latency: skipped (set SD_ETCD_ENDPOINTS, e.g. from `bash scripts/servers/etcd.sh env`)");
  Deno.exit(0);
}
const changes = Number(Deno.args[0] ?? 200);
if (!Number.isInteger(changes) || changes < 50) {
  console.error(`changes must be an integer >= 50, got ${Deno.args[0]}`);
  Deno.exit(2);
}

const client = new EtcdClient({ endpoints: endpoints.split(",") });
const writer = new EtcdClient({ endpoints: endpoints.split(",") });
const prefix = `/sd-bench/latency-${crypto.randomUUID().slice(0, 8)}/`;
const instancer = new EtcdInstancer(client, prefix);
const endpointer = new DefaultEndpointer(
  instancer,
  (instance) => ({ endpoint: () => Promise.resolve(instance) }),
);

/** Resolves at the next `change` event with the time it arrived. */
function nextChange(): Promise<number> {
  return new Promise((resolve) => {
    endpointer.addEventListener("change", () => resolve(performance.now()), { once: true });
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;

try {
  await endpointer.ready({ signal: AbortSignal.timeout(5000) });
  // Warm up the connections (and the gateway) first.
  for (let i = 0; i < 5; i++) {
    const changed = nextChange();
    await writer.put(`${prefix}warm`, `127.0.0.1:${9000 + i}`);
    await changed;
  }
  const samples: number[] = [];
  const writes: number[] = [];
  for (let i = 0; i < changes; i++) {
    // Alternate between adding an instance and removing it, so that every write is a change.
    const changed = nextChange();
    const start = performance.now();
    if (i % 2 === 0) await writer.put(`${prefix}x`, "127.0.0.1:9999");
    else await writer.delete(`${prefix}x`);
    writes.push(performance.now() - start);
    samples.push((await changed) - start);
  }
  samples.sort((a, b) => a - b);
  writes.sort((a, b) => a - b);
  const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
  console.log(`etcd put -> endpointer change, ${changes} changes on ${endpoints}:`);
  console.log(
    `  p50 ${fmt(percentile(samples, 0.5))}  p90 ${fmt(percentile(samples, 0.9))}  p99 ${
      fmt(percentile(samples, 0.99))
    }  max ${fmt(samples.at(-1)!)}`,
  );
  console.log(
    `  (the put or delete alone: p50 ${fmt(percentile(writes, 0.5))}, p99 ${fmt(percentile(writes, 0.99))})`,
  );
  const p99 = percentile(samples, 0.99);
  console.log(`  target p99 < 50 ms: ${p99 < 50 ? "met" : "MISSED"}`);
} finally {
  endpointer.close();
  instancer.stop();
  await writer.delete(prefix, { prefix: true }).catch(() => {});
}

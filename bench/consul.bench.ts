// deno bench against a real Consul agent (SD_CONSUL_ADDR; e.g. `eval "$(bash scripts/servers/consul.sh env)"`
// then `deno bench --allow-net=127.0.0.1 --allow-env bench/consul.bench.ts`). Without it, no bench is
// registered and one line says so.
//
// Before the benches run, two measurements are printed (deno bench cannot report percentiles):
// - propagation: time from sending a registration change (register or deregister one instance) to
//   the DefaultEndpointer's `change` event, over 100 changes, as p50/p90/p99/max. The instancer uses a
//   fast token bucket (burst 2, one token per 100 ms) and changes are 150 ms apart, so that pacing
//   does not hide the latency of the blocking query itself (with the default bucket, a change that
//   follows two others within 15 s waits for a token: up to 15 s, by design);
// - idle rate: queries per second an idle instancer sends with wait 2 s and 5 s (the default wait of
//   60 s would need minutes to measure; it sends one query per minute).
// The benches: a one-shot lookupHealthService round trip, and parsing a 1,000-entry answer.
import { DefaultEndpointer } from "../src/endpointer.ts";
import {
  ConsulClient,
  ConsulInstancer,
  ConsulRegistrar,
  type ConsulServiceRegistration,
  lookupHealthService,
} from "../src/consul/mod.ts";

const VARIABLE = "SD_CONSUL_ADDR";
const permitted = Deno.permissions.querySync({ name: "env", variable: VARIABLE }).state === "granted";
const address = permitted ? Deno.env.get(VARIABLE) : undefined;

if (address === undefined) {
  console.log(
    `consul.bench.ts: skipped (set ${VARIABLE} and allow env to bench against a real Consul agent)`,
  );
} else {
  const client = new ConsulClient({ address });
  const name = `bench-${crypto.randomUUID().slice(0, 8)}`;
  await measurePropagation(client, `${name}-prop`);
  await measureIdleRate(address, `${name}-idle`);

  // Three passing instances for the lookup bench; their TTL check lapses a minute after the run and
  // Consul reaps them a minute later, so nothing needs cleaning up after the benches.
  for (const port of [9001, 9002, 9003]) {
    await new ConsulRegistrar(client, {
      name,
      address: "127.0.0.1",
      port,
      checks: [{ ttl: 60_000, status: "passing", deregisterCriticalServiceAfter: 60_000 }],
    }, { keepAlive: false }).register();
  }
  Deno.bench({
    name: "lookupHealthService, 3 instances (HTTP round trip to the agent)",
    group: "consul",
    async fn() {
      const { instances } = await lookupHealthService(client, name);
      if (instances.length !== 3) throw new Error(`expected 3 instances, got ${instances.length}`);
    },
  });

  const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({
    Node: { Node: `node-${i % 50}`, Address: `10.0.${i % 50}.1`, Datacenter: "dc1" },
    Service: {
      ID: `api-${i}`,
      Service: "api",
      Tags: ["v2", "http"],
      Address: `10.1.${Math.floor(i / 250)}.${i % 250}`,
      Meta: { version: "2" },
      Port: 8080,
      Weights: { Passing: 10, Warning: 1 },
    },
    Checks: [{ CheckID: "serfHealth", Status: "passing" }, {
      CheckID: `service:api-${i}`,
      Status: "passing",
    }],
  })));
  const parsing = new ConsulClient({
    fetch: () => Promise.resolve(new Response(big, { headers: { "x-consul-index": "42" } })),
  });
  Deno.bench({
    name: "lookupHealthService, 1,000 entries from a stand-in fetch (read, check, map)",
    group: "consul-parse",
    async fn() {
      await lookupHealthService(parsing, "api");
    },
  });
}

/** Registers and deregisters one instance 100 times; prints percentiles of change → `change` event. */
async function measurePropagation(client: ConsulClient, name: string): Promise<void> {
  const instancer = new ConsulInstancer(client, name, {
    wait: 60_000,
    rateLimit: { burst: 2, interval: 100 },
  });
  const endpointer = new DefaultEndpointer(
    instancer,
    (instance) => ({ endpoint: () => Promise.resolve(instance) }),
  );
  const registration: ConsulServiceRegistration = { name, address: "127.0.0.1", port: 9000 };
  const registrar = new ConsulRegistrar(client, registration, { keepAlive: false });
  const latencies: number[] = [];
  try {
    await endpointer.ready({ signal: AbortSignal.timeout(10_000) });
    for (let i = 0; i < 100; i++) {
      const want = i % 2 === 0 ? 1 : 0;
      const changed = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`change ${i} not seen within 20 s`)), 20_000);
        const onChange = () => {
          if (endpointer.entries().length !== want) return;
          clearTimeout(timer);
          endpointer.removeEventListener("change", onChange);
          resolve();
        };
        endpointer.addEventListener("change", onChange);
      });
      const start = performance.now();
      await (want === 1 ? registrar.register() : registrar.deregister());
      await changed;
      latencies.push(performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  } finally {
    endpointer.close();
    instancer.stop();
    await registrar.deregister().catch(() => {});
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  console.log(
    `consul propagation (register/deregister → endpointer change), n=${latencies.length}: ` +
      `p50 ${ms(at(0.5))}, p90 ${ms(at(0.9))}, p99 ${ms(at(0.99))}, max ${ms(latencies.at(-1)!)}`,
  );
}

/** Counts the queries an idle instancer sends over 20 s, with wait 2 s and 5 s. */
async function measureIdleRate(address: string, name: string): Promise<void> {
  for (const wait of [2_000, 5_000]) {
    let queries = 0;
    const client = new ConsulClient({
      address,
      fetch: (input, init) => {
        queries++;
        return fetch(input, init);
      },
    });
    const instancer = new ConsulInstancer(client, name, { wait });
    await new Promise<void>((resolve) => {
      const subscription = instancer.subscribe(() => {
        subscription.unsubscribe();
        resolve();
      });
    });
    const before = queries;
    const seconds = 20;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    instancer.stop();
    const sent = queries - before;
    console.log(
      `consul idle rate (wait ${wait / 1000} s): ${sent} queries in ${seconds} s = ${
        (sent / seconds).toFixed(2)
      }/s`,
    );
  }
}

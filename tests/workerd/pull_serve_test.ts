// examples/worker_gateway.ts inside `workerd serve`, over many requests: discovery requests are
// counted at the registry side (a RegistryFront in this process, forwarding to the real registry, or
// answering as a fake Consul for faults). Each scenario runs on a fresh workerd (a fresh isolate) and
// fails on workerd output about cross-request I/O, hung requests or uncaught errors.
//
// Needs workerd (bash scripts/install_workerd.sh) and, per real backend, its server's variable (see
// tests/integration/README.md); without them the tests are ignored, or fail under SD_REQUIRE_SERVERS=1.

import { assert } from "../_deps.ts";
import { EtcdClient } from "../../src/etcd/mod.ts";
import { EurekaClient, EurekaRegistrar } from "../../src/eureka/mod.ts";
import { ZkClient } from "../../src/zk/mod.ts";
import { nsupdate, zoneName } from "../integration/_dns.ts";
import { withServerLock } from "../integration/_server.ts";
import { fakeConsul, type Front, RegistryFront, TcpFront, Upstream, workerdTest } from "./_harness.ts";
import {
  type Backend,
  coldThenWarm,
  concurrentCold,
  type Figures,
  membershipChange,
  outage,
  refreshesPerTtl,
  type Timing,
  withGateway,
} from "./_scenarios.ts";

/** Prints one line of figures per backend (the README quotes them). */
function report(name: string, figures: Figures): void {
  console.log(`workerd pull mode, ${name}: ${JSON.stringify(figures)}`);
}

/**
 * The scenarios every backend shares: cold then 50 warm (TTL 5 s), 8 concurrent cold, then on one
 * gateway with a 1 s TTL steady traffic and a membership change. `perLookup` is the number of
 * registry requests one lookup makes (default 1); `ttlSeconds` are the registry's TTLs for the
 * 5 s and the 1 s parts (DNS).
 */
async function common(
  backend: Backend,
  front: Front,
  upstreams: readonly [Upstream, Upstream, Upstream],
  options: { perLookup?: number; ttlSeconds?: [number, number] } = {},
): Promise<Figures> {
  const [slow, fast] = options.ttlSeconds ?? [undefined, undefined];
  await backend.set(upstreams.slice(0, 2), slow);
  const { cold, warm50 } = await coldThenWarm(backend, front, 5_000);
  const perLookup = options.perLookup ?? 1;
  assert.equal(cold, perLookup, `one lookup (${perLookup} requests) for the cold request`);
  assert.equal(warm50, 0);
  const concurrent8 = await concurrentCold(backend, front, 5_000);
  assert.equal(concurrent8, cold, "one lookup for 8 concurrent cold requests");
  await backend.set(upstreams.slice(0, 2), fast);
  const ttl = 1_000;
  const figures = await withGateway(backend, front, { ttl }, async (workerd) => {
    const refreshes = await refreshesPerTtl(workerd, backend, front, ttl, 4_000);
    const change = await membershipChange(workerd, backend, upstreams, ttl, fast);
    return { cold, warm50, concurrent8, refreshes, change };
  });
  if (!(front instanceof RegistryFront)) return figures;
  // The real registry cut off from the Worker (its front stops listening): stale within staleIfError,
  // then quick 503s, then recovery on the first request the backoff lets look up once it is back.
  const timing: Required<Timing> = { ttl: 1_000, staleIfError: 1_500, backoff: 200, timeout: 500 };
  const outageFigures = await withGateway(
    backend,
    front,
    timing,
    (workerd) => outage(workerd, backend, front, timing, () => front.down(), () => front.up()),
  );
  return { ...figures, outage: outageFigures };
}

workerdTest(
  "The Worker gateway in workerd against a fake Consul: counts, faults and recovery",
  undefined,
  async () => {
    await using alpha = new Upstream("alpha");
    await using beta = new Upstream("beta");
    await using gamma = new Upstream("gamma");
    const services = new Map<string, { name: string; port: number }[]>();
    await using front = new RegistryFront(fakeConsul(services));
    const backend: Backend = {
      name: "consul",
      registry: (f) => f.address,
      service: "api",
      discovery: "/v1/health/service/",
      set: (instances) => {
        services.set("api", instances.map((u) => ({ name: u.name, port: u.port })));
        return Promise.resolve();
      },
    };
    const figures = await common(backend, front, [alpha, beta, gamma]);

    const timing: Required<Timing> = { ttl: 1_000, staleIfError: 1_500, backoff: 200, timeout: 500 };
    const outages = await withGateway(backend, front, timing, async (workerd) => {
      const results: Record<string, unknown> = {};
      results["down"] = await outage(workerd, backend, front, timing, () => front.down(), () => front.up());
      for (const fault of ["500", "garbage", "stall"] as const) {
        results[fault] = await outage(workerd, backend, front, timing, () => {
          front.fault = fault;
        }, () => {
          front.fault = "none";
        });
      }
      return results;
    });
    report("fake Consul", figures);
    console.log(`workerd pull mode, fake Consul outages: ${JSON.stringify(outages)}`);
  },
);

/** Three upstreams named alpha, beta and gamma. */
function upstreams(): [Upstream, Upstream, Upstream] {
  return [new Upstream("alpha"), new Upstream("beta"), new Upstream("gamma")];
}

async function stopAll(list: readonly AsyncDisposable[]): Promise<void> {
  await Promise.all(list.map((x) => x[Symbol.asyncDispose]()));
}

workerdTest(
  "The Worker gateway in workerd against a real Consul agent",
  "SD_CONSUL_ADDR",
  (address) =>
    withServerLock("consul", "shared", async () => {
      const agent = `http://${address.replace(/^https?:\/\//, "")}`;
      const service = `wgw-${crypto.randomUUID().slice(0, 8)}`;
      const ups = upstreams();
      const front = new RegistryFront({ target: agent });
      const registered = new Set<string>();
      const call = async (path: string, body?: unknown) => {
        const response = await fetch(`${agent}${path}`, {
          method: "PUT",
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(10_000),
        });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`PUT ${path}: ${response.status}`);
      };
      const backend: Backend = {
        name: "consul",
        registry: (f) => f.address,
        service,
        discovery: `/v1/health/service/${service}`,
        set: async (instances) => {
          const ids = new Set(instances.map((u) => `${service}-${u.name}`));
          for (const u of instances) {
            const id = `${service}-${u.name}`;
            if (!registered.has(id)) {
              await call("/v1/agent/service/register", {
                ID: id,
                Name: service,
                Address: "127.0.0.1",
                Port: u.port,
              });
            }
          }
          for (const id of registered) if (!ids.has(id)) await call(`/v1/agent/service/deregister/${id}`);
          registered.clear();
          for (const id of ids) registered.add(id);
        },
      };
      try {
        report("Consul", await common(backend, front, ups));
      } finally {
        await backend.set([]).catch(() => {});
        await stopAll([front, ...ups]);
      }
    }),
);

workerdTest(
  "The Worker gateway in workerd against a real Eureka server",
  "SD_EUREKA_URL",
  (url) =>
    withServerLock("eureka", "shared", async () => {
      const base = new URL(url);
      const app = `WGW-${crypto.randomUUID().slice(0, 8).toUpperCase()}`;
      const ups = upstreams();
      const front = new RegistryFront({ target: base.origin });
      const client = new EurekaClient({ urls: url });
      const registrars = new Map<string, EurekaRegistrar>();
      const backend: Backend = {
        name: "eureka",
        registry: (f) => `http://${f.address}${base.pathname}`,
        service: app,
        discovery: `${base.pathname.replace(/\/$/, "")}/apps/`,
        set: async (instances) => {
          const names = new Set(instances.map((u) => u.name));
          for (const u of instances) {
            if (registrars.has(u.name)) continue;
            const registrar = new EurekaRegistrar(client, {
              app,
              ipAddr: "127.0.0.1",
              port: u.port,
              renewalIntervalInSecs: 5,
            });
            registrars.set(u.name, registrar);
            await registrar.register();
          }
          for (const [name, registrar] of registrars) {
            if (names.has(name)) continue;
            registrars.delete(name);
            await registrar.deregister();
            registrar.stop();
          }
        },
      };
      try {
        report("Eureka", await common(backend, front, ups));
      } finally {
        await backend.set([]).catch(() => {});
        await stopAll([front, ...ups]);
      }
    }),
);

workerdTest(
  "The Worker gateway in workerd against the real DoH front end (dnsdist, BIND)",
  "SD_DOH_URL",
  async (url) => {
    const doh = new URL(url);
    const zone = zoneName();
    const id = `wgw-${crypto.randomUUID().slice(0, 8)}`;
    const name = `_http._tcp.${id}.${zone}`;
    const target = (u: Upstream) => `${id}-${u.name}.${zone}`;
    const ups = upstreams();
    const front = new RegistryFront({ target: doh.origin });
    const backend: Backend = {
      name: "dns",
      registry: (f) => `http://${f.address}${doh.pathname}`,
      service: name,
      discovery: doh.pathname,
      // The SRV records carry the TTL under test; the targets' addresses live longer.
      set: (instances, ttl = 5) =>
        nsupdate([
          `update delete ${name}. SRV`,
          ...instances.flatMap((u) => [
            `update add ${name}. ${ttl} IN SRV 10 10 ${u.port} ${target(u)}.`,
            `update delete ${target(u)}. A`,
            `update add ${target(u)}. 300 IN A 127.0.0.1`,
          ]),
        ]),
    };
    try {
      report("DNS SRV over DoH", await common(backend, front, ups, { ttlSeconds: [5, 1] }));
    } finally {
      await nsupdate([`update delete ${name}.`, ...ups.map((u) => `update delete ${target(u)}.`)]).catch(
        () => {},
      );
      await stopAll([front, ...ups]);
    }
  },
);

workerdTest(
  "The Worker gateway in workerd against a real etcd",
  "SD_ETCD_ENDPOINTS",
  (endpoints) =>
    withServerLock("etcd", "shared", async () => {
      const endpoint = new URL(endpoints.split(",")[0]!.trim());
      const prefix = `/wgw-${crypto.randomUUID().slice(0, 8)}/api/`;
      const ups = upstreams();
      const front = new RegistryFront({ target: endpoint.origin });
      const client = new EtcdClient({ endpoints: [endpoint.origin] });
      const backend: Backend = {
        name: "etcd",
        registry: (f) => `http://${f.address}`,
        service: prefix,
        // Every request the lookup makes (a range read; auth would add one).
        discovery: "/v3/",
        set: async (instances) => {
          await client.delete(prefix, { prefix: true });
          for (const u of instances) await client.put(`${prefix}${u.name}`, u.address);
        },
      };
      try {
        report("etcd", await common(backend, front, ups));
      } finally {
        await client.delete(prefix, { prefix: true }).catch(() => {});
        await stopAll([front, ...ups]);
      }
    }),
);

workerdTest(
  "The Worker gateway in workerd against a real ZooKeeper (cloudflare:sockets)",
  "SD_ZK_ADDR",
  (address) =>
    withServerLock("zookeeper", "shared", async () => {
      const server = address.split(",")[0]!.trim();
      const path = `/wgw-${crypto.randomUUID().slice(0, 8)}/api`;
      const ups = upstreams();
      const front = new TcpFront(server);
      const client = new ZkClient(server, { timeout: 10_000 });
      const listed = new Set<string>();
      const backend: Backend = {
        name: "zk",
        registry: (f) => f.address,
        service: path,
        discovery: "tcp",
        set: async (instances) => {
          await client.ensurePath(path);
          const names = new Set(instances.map((u) => u.name));
          for (const u of instances) {
            if (!listed.has(u.name)) await client.create(`${path}/${u.name}`, u.address);
            listed.add(u.name);
          }
          for (const name of [...listed]) {
            if (names.has(name)) continue;
            await client.delete(`${path}/${name}`);
            listed.delete(name);
          }
        },
      };
      try {
        report("ZooKeeper", await common(backend, front, ups));
      } finally {
        await backend.set([]).catch(() => {});
        await client.delete(path).catch(() => {});
        await client.delete(path.slice(0, path.lastIndexOf("/"))).catch(() => {});
        await client.close();
        await stopAll([front, ...ups]);
      }
    }),
);

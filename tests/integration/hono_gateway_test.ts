// The @edgekit/sd/hono gateway on Deno against the real registries: upstream Deno servers are
// registered in Consul, etcd and Eureka (through the library's registrars) or published as DNS SRV
// records (nsupdate, read through dnsdist's DoH); a Hono app with serviceProxy, served by Deno.serve,
// forwards to them over real HTTP (X-Forwarded-* from the real connection, the prefix stripped),
// follows a deregistration, and answers a problem+json 503 without addresses when none is left.
// Consul also runs in pull mode, with a Worker-like executionCtx.
//   for s in dns etcd consul eureka; do eval "$(bash scripts/servers/$s.sh env)"; done
//   deno test -A tests/integration/hono_gateway_test.ts
import { Hono } from "hono";
import { assert } from "../_deps.ts";
import { DefaultEndpointer, httpFactory, type Instancer, PullInstancer } from "../../mod.ts";
import { ConsulClient, ConsulInstancer, consulLookup, ConsulRegistrar } from "../../src/consul/mod.ts";
import { DohResolver } from "../../src/dns/mod.ts";
import { DnsSrvInstancer } from "../../src/dnssrv/mod.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { EurekaClient, EurekaInstancer, EurekaRegistrar } from "../../src/eureka/mod.ts";
import { type Balancer, Rfc2782Balancer, RoundRobinBalancer } from "../../src/lb/mod.ts";
import { serviceProxy, type ServiceProxyOptions, statusHandler } from "../../src/hono/mod.ts";
import { uniqueName } from "../consul/_real.ts";
import { nsupdate, zoneName } from "./_dns.ts";
import { withEtcdLock } from "./_etcd.ts";
import { waitFor } from "./_etcd_sd.ts";
import { uniqueApp, withEurekaLock } from "./_eureka_sd.ts";
import { serverTest, serverTestLocked, withServerLock } from "./_server.ts";

/** An upstream that answers with its name and what the gateway sent it. */
function upstream(name: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) =>
    Response.json({
      name,
      path: new URL(request.url).pathname + new URL(request.url).search,
      host: request.headers.get("host"),
      xff: request.headers.get("x-forwarded-for"),
      xfh: request.headers.get("x-forwarded-host"),
      xfp: request.headers.get("x-forwarded-proto"),
    }));
}

interface Served extends AsyncDisposable {
  url: string;
  app: Hono;
  get(path: string): Promise<Response>;
}

/** Serves a Hono gateway over `endpointer` on a real socket. */
function serveGateway(
  endpointer: DefaultEndpointer<Request, Response>,
  balancer: Balancer<Request, Response>,
  options: ServiceProxyOptions = {},
): Served {
  const app = new Hono();
  app.get("/_status", statusHandler({ svc: { endpointer } }, { expose: true }));
  app.all("/api/*", serviceProxy(balancer, { stripPrefix: "/api", endpointer, backoff: false, ...options }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    app,
    get: (path) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) }),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** Requests until every name in `names` has answered, checking each answer's forwarding. */
async function reachesAll(gateway: Served, names: string[]): Promise<void> {
  const seen = new Set<string>();
  const host = new URL(gateway.url).host;
  for (let i = 0; i < names.length * 4 && seen.size < names.length; i++) {
    const response = await gateway.get(`/api/items/${i}?q=1`);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.path, `/items/${i}?q=1`);
    assert.notEqual(body.host, host, "the upstream gets its own Host");
    assert.deepEqual([body.xff, body.xfh, body.xfp], ["127.0.0.1", host, "http"]);
    seen.add(body.name);
  }
  assert.deepEqual([...seen].sort(), [...names].sort());
}

async function noInstance(gateway: Served): Promise<void> {
  const response = await gateway.get("/api/x");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const text = await response.text();
  assert.equal(JSON.parse(text).code, "ERR_NO_ENDPOINTS");
  assert.doesNotMatch(text, /127\.0\.0\.1/);
}

async function watched(
  instancer: Instancer & { stop(): void },
  balancer: (e: DefaultEndpointer<Request, Response>) => Balancer<Request, Response>,
  fn: (gateway: Served, endpointer: DefaultEndpointer<Request, Response>) => Promise<void>,
): Promise<void> {
  const endpointer = new DefaultEndpointer<Request, Response>(instancer, httpFactory({ timeout: 5_000 }));
  try {
    await using gateway = serveGateway(endpointer, balancer(endpointer));
    await fn(gateway, endpointer);
  } finally {
    endpointer.close();
    instancer.stop();
  }
}

serverTestLocked("consul", "shared")(
  "The Hono gateway forwards to instances registered in the real Consul agent, in watch and pull mode",
  "SD_CONSUL_ADDR",
  async (address) => {
    const name = uniqueName("hono-gw");
    const client = new ConsulClient({ address });
    const servers = [upstream("a"), upstream("b")];
    const registrars = servers.map((s, i) =>
      new ConsulRegistrar(client, { name, id: `${name}-${i}`, address: "127.0.0.1", port: s.addr.port })
    );
    try {
      for (const r of registrars) await r.register();
      await watched(
        new ConsulInstancer(client, name),
        (e) => new RoundRobinBalancer(e),
        async (gateway, e) => {
          await waitFor("two instances", () => e.entries().length === 2, 15_000);
          await reachesAll(gateway, ["a", "b"]);

          // Pull mode: refreshed per request, waitUntil from the Worker's executionCtx.
          using pull = new PullInstancer(consulLookup(client, name), { ttl: 60_000 });
          using pulled = new DefaultEndpointer<Request, Response>(pull, httpFactory(), {
            invalidateAfter: 0,
          });
          const app = new Hono();
          app.all("/*", serviceProxy(new RoundRobinBalancer(pulled), { pull }));
          const waited: Promise<unknown>[] = [];
          const ctx = {
            waitUntil: (p: Promise<unknown>) => void waited.push(p),
            passThroughOnException() {},
            props: {},
          };
          const names = new Set<string>();
          for (let i = 0; i < 4; i++) {
            const response = await app.fetch(new Request("http://worker.example/hello"), {}, ctx);
            names.add((await response.json()).name);
          }
          assert.deepEqual([...names].sort(), ["a", "b"]);
          assert.equal(pull.status.lookups, 1, "one lookup within the TTL");

          for (const r of registrars) await r.deregister();
          await waitFor("no instances", () => e.entries().length === 0, 15_000);
          await noInstance(gateway);
        },
      );
    } finally {
      for (const r of registrars) await r.deregister().catch(() => {});
      await Promise.all(servers.map((s) => s.shutdown()));
    }
  },
);

serverTest(
  "The Hono gateway forwards to instances registered in the real etcd",
  "SD_ETCD_ENDPOINTS",
  (url) =>
    withEtcdLock("shared", async () => {
      const prefix = `/sd-hono/${crypto.randomUUID().slice(0, 8)}/`;
      const client = new EtcdClient({ endpoints: [url] });
      const servers = [upstream("a"), upstream("b")];
      const registrars = servers.map((s, i) =>
        new EtcdRegistrar(client, { key: `${prefix}${i}`, value: `127.0.0.1:${s.addr.port}`, ttl: 5 })
      );
      try {
        for (const r of registrars) await r.register();
        await watched(new EtcdInstancer(client, prefix), (e) =>
          new RoundRobinBalancer(e), async (gateway, e) => {
          await waitFor("two instances", () =>
            e.entries().length === 2, 15_000);
          await reachesAll(gateway, ["a", "b"]);
          await registrars[0]!.deregister();
          await waitFor("one instance", () => e.entries().length === 1, 15_000);
          await reachesAll(gateway, ["b"]);
          await registrars[1]!.deregister();
          await waitFor("no instances", () => e.entries().length === 0, 15_000);
          await noInstance(gateway);
        });
      } finally {
        for (const r of registrars) {
          await r.deregister().catch(() => {});
        }
        await Promise.all(servers.map((s) =>
          s.shutdown()
        ));
      }
    }),
);

serverTest(
  "The Hono gateway forwards to instances registered in the real Eureka server",
  "SD_EUREKA_URL",
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("hono-gw");
      const client = new EurekaClient({ urls: [url] });
      const servers = [upstream("a"), upstream("b")];
      const registrars = servers.map((s) =>
        new EurekaRegistrar(client, { app, ipAddr: "127.0.0.1", hostName: "127.0.0.1", port: s.addr.port })
      );
      try {
        for (const r of registrars) await r.register();
        const instancer = new EurekaInstancer(client, app, { interval: 250 });
        await watched(instancer, (e) => new RoundRobinBalancer(e), async (gateway, e) => {
          await waitFor("two instances", () => e.entries().length === 2, 15_000);
          await reachesAll(gateway, ["a", "b"]);
          await registrars[0]!.deregister();
          await waitFor("one instance", () => e.entries().length === 1, 15_000);
          await reachesAll(gateway, ["b"]);
        });
      } finally {
        for (const r of registrars) await r.deregister().catch(() => {});
        await Promise.all(servers.map((s) => s.shutdown()));
      }
    }),
);

serverTest(
  "The Hono gateway forwards to instances published as DNS SRV records, read through dnsdist's DoH",
  "SD_DOH_URL",
  (url) =>
    withServerLock("dns", "shared", async () => {
      const zone = zoneName();
      const tag = `hgw${crypto.randomUUID().slice(0, 8)}`;
      const srv = `_http._tcp.${tag}.${zone}`;
      const servers = [upstream("a"), upstream("b")];
      const [a, b] = servers.map((s) => s.addr.port);
      await nsupdate([
        `update add ${tag}-t.${zone}. 1 IN A 127.0.0.1`,
        `update add ${srv}. 1 IN SRV 10 50 ${a} ${tag}-t.${zone}.`,
        `update add ${srv}. 1 IN SRV 10 50 ${b} ${tag}-t.${zone}.`,
      ]);
      try {
        const resolver = new DohResolver({ servers: [url] });
        const instancer = new DnsSrvInstancer(srv, { resolver, minInterval: 200, resolveTargets: "ipv4" });
        await watched(instancer, (e) => new Rfc2782Balancer(e), async (gateway, e) => {
          await waitFor("two instances", () => e.entries().length === 2, 15_000);
          await reachesAll(gateway, ["a", "b"]);
          await nsupdate([`update delete ${srv}. SRV 10 50 ${a} ${tag}-t.${zone}.`]);
          await waitFor("one instance", () => e.entries().length === 1, 15_000);
          await reachesAll(gateway, ["b"]);
        });
      } finally {
        await nsupdate([`update delete ${srv}. SRV`, `update delete ${tag}-t.${zone}. A`]).catch(() => {});
        await Promise.all(servers.map((s) => s.shutdown()));
      }
    }),
);

// The README's Hono gateway on Workers, examples/hono_worker_gateway.ts, bundled and run in
// `workerd serve` against the real Consul agent: upstream Deno servers are registered there through
// ConsulRegistrar, and a RegistryFront between workerd and the agent counts the discovery requests.
// The cold request looks the service up once and is forwarded (prefix stripped); the warm requests
// within the TTL (10 s in the example) cost no discovery request and reach both instances; a service
// without instances answers a 503 problem+json that names no address; workerd prints none of the
// FORBIDDEN lines (cross-request I/O, hung requests, uncaught errors).
//   eval "$(bash scripts/servers/consul.sh env)"
//   deno test -A tests/workerd/hono_gateway_test.ts
// Needs workerd (bash scripts/install_workerd.sh) and SD_CONSUL_ADDR; without them the test is ignored,
// or fails under SD_REQUIRE_SERVERS=1.

import { assert } from "../_deps.ts";
import { ConsulClient, ConsulRegistrar } from "../../src/consul/mod.ts";
import { uniqueName } from "../consul/_real.ts";
import { withServerLock } from "../integration/_server.ts";
import { type Answer, RegistryFront, Workerd, workerdTest, type WorkerSpec } from "./_harness.ts";
import { assertCleanOutput } from "./_scenarios.ts";

const HONO_WORKER: WorkerSpec = { entry: "examples/hono_worker_gateway.ts", config: "hono.capnp" };
const DISCOVERY = "/v1/health/service/";
/** The example's PullInstancer TTL: the warm requests must fit in it to prove anything. */
const TTL_MS = 10_000;

/** An upstream that answers with its name and the path it was sent. */
function upstream(name: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    return Response.json({ name, path: url.pathname + url.search });
  });
}

function forwarded(answer: Answer, path: string): string {
  assert.equal(answer.status, 200, `${path}: ${answer.status} ${answer.body}`);
  const body = JSON.parse(answer.body);
  assert.equal(body.path, path, "forwarded with the /api prefix stripped");
  return body.name;
}

workerdTest(
  "The README's Hono gateway on Workers, in workerd against the real Consul: cold lookup, warm requests without one, 503 without instances",
  "SD_CONSUL_ADDR",
  (address) =>
    withServerLock("consul", "shared", async () => {
      const name = uniqueName("hono-worker");
      const client = new ConsulClient({ address });
      const servers = [upstream("alpha"), upstream("beta")];
      const registrars = servers.map((s, i) =>
        new ConsulRegistrar(client, { name, id: `${name}-${i}`, address: "127.0.0.1", port: s.addr.port })
      );
      await using front = new RegistryFront({ target: `http://${address}` });
      try {
        for (const r of registrars) await r.register();
        {
          await using workerd = await Workerd.start(
            { SD_CONSUL_ADDR: front.address, SD_SERVICE: name },
            HONO_WORKER,
          );
          const start = Date.now();
          const cold = await workerd.get("/api/items/0?q=0");
          const names = new Set([forwarded(cold, "/items/0?q=0")]);
          const coldLookups = front.count(DISCOVERY);
          assert.equal(coldLookups, 1, "the cold request looked the service up once");
          for (let i = 1; i <= 20; i++) {
            names.add(forwarded(await workerd.get(`/api/items/${i}?q=${i}`), `/items/${i}?q=${i}`));
          }
          const took = Date.now() - start;
          assert.ok(took < TTL_MS, `the warm requests must fit in the TTL (${TTL_MS} ms); took ${took}`);
          assert.equal(front.count(DISCOVERY) - coldLookups, 0, "no discovery request within the TTL");
          assert.deepEqual([...names].sort(), ["alpha", "beta"]);
          const other = await workerd.get("/elsewhere");
          assert.equal(other.status, 404, "only /api/* is forwarded");
          assertCleanOutput(workerd);
        }
        {
          // A fresh isolate for a service nobody registered: one lookup, an empty set, 503.
          await using workerd = await Workerd.start(
            { SD_CONSUL_ADDR: front.address, SD_SERVICE: `${name}-none` },
            HONO_WORKER,
          );
          const before = front.count(DISCOVERY);
          const response = await fetch(`${workerd.url}/api/x`, { signal: AbortSignal.timeout(10_000) });
          const text = await response.text();
          assert.equal(response.status, 503, text);
          assert.equal(response.headers.get("content-type"), "application/problem+json");
          assert.equal(response.headers.get("retry-after"), "1");
          assert.equal(JSON.parse(text).code, "ERR_NO_ENDPOINTS");
          assert.doesNotMatch(text, /127\.0\.0\.1/);
          assert.equal(front.count(DISCOVERY) - before, 1, "one lookup for the service without instances");
          assertCleanOutput(workerd);
        }
      } finally {
        for (const r of registrars) await r.deregister().catch(() => {});
        await Promise.all(servers.map((s) => s.shutdown()));
      }
    }),
);

// The Eureka backend against a real Spring Cloud Netflix Eureka server (scripts/servers/eureka.sh):
// registrations seen by instancers, OUT_OF_SERVICE leaving the default instancer (go-kit #1076),
// heartbeats keeping a short lease and eviction after stop(), re-registration after a server restart,
// and a registry copy kept by deltas that equals a full fetch. go-kit equivalent: TestIntegration in
// sd/eureka. Start the server, then:
//   eval "$(bash scripts/servers/eureka.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/eureka_test.ts
import { assert } from "../_deps.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { EurekaClient, EurekaInstancer, EurekaRegistrar, EurekaRegistry } from "../../src/eureka/mod.ts";
import type { RegistrarErrorEvent, RegistrarEventType } from "../../src/registrar.ts";
import { serverTest } from "./_server.ts";
import { CountingFetch, restartEureka, uniqueApp, withEurekaLock } from "./_eureka_sd.ts";
import { Recorder, sleep, waitFor } from "./_etcd_sd.ts";

const VARIABLE = "SD_EUREKA_URL";

function registrar(client: EurekaClient, app: string, port: number, extra = {}): EurekaRegistrar {
  return new EurekaRegistrar(client, {
    app,
    ipAddr: "127.0.0.1",
    port,
    metadata: { zone: "zone-a" },
    renewalIntervalInSecs: 1,
    durationInSecs: 3,
    ...extra,
  });
}

/** Collects a registrar's lifecycle events and errors. */
function events(r: EurekaRegistrar): string[] {
  const seen: string[] = [];
  for (const type of ["registered", "reregistered", "deregistered"] satisfies RegistrarEventType[]) {
    r.addEventListener(type, () => seen.push(type));
  }
  r.addEventListener("error", (e) => seen.push(`error:${((e as RegistrarErrorEvent).error as Error).name}`));
  return seen;
}

serverTest(
  "Eureka: two registered instances appear, OUT_OF_SERVICE leaves the default instancer, deregistration empties it",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("TWO");
      // A dead first server: every call fails over to the real one.
      const client = new EurekaClient({ urls: ["http://127.0.0.1:1/eureka", url] });
      const a = registrar(client, app, 9101);
      const b = registrar(client, app, 9102, { vipAddress: "two-vip" });
      // notFoundGrace 0: this test follows deregistration to an empty set at once (the default grace
      // rides out a restarted server's 404 and is covered in eureka_restart_test.ts).
      const instancer = new EurekaInstancer(client, app, { interval: 200, notFoundGrace: 0 });
      const everyone = new EurekaInstancer(client, app, {
        interval: 200,
        notFoundGrace: 0,
        statuses: ["UP", "OUT_OF_SERVICE"],
      });
      const endpointer = new DefaultEndpointer(instancer, (i) => ({ endpoint: () => Promise.resolve(i) }));
      const seen = new Recorder(instancer);
      try {
        await endpointer.ready({ signal: AbortSignal.timeout(5000) });
        assert.equal(endpointer.endpoints().length, 0, "no instances yet: the 404 is an empty set");
        await a.register();
        await b.register();
        await seen.until("[127.0.0.1:9101,127.0.0.1:9102]");
        assert.deepStrictEqual(instancer.details("127.0.0.1:9102"), {
          id: "127.0.0.1:" + app.toLowerCase() + ":9102",
          status: "passing",
          zone: "zone-a",
          meta: {
            zone: "zone-a",
            "eureka.status": "UP",
            "eureka.app": app,
            "eureka.hostName": "127.0.0.1",
            "eureka.vipAddress": "two-vip",
            "eureka.secureVipAddress": "two-vip",
          },
        });

        await a.setStatus("OUT_OF_SERVICE");
        await seen.until("[127.0.0.1:9102]");
        await waitFor("the OUT_OF_SERVICE instance in the wider instancer", () => {
          const d = everyone.details("127.0.0.1:9101");
          return d?.status === "critical" && d.meta?.["eureka.status"] === "OUT_OF_SERVICE";
        });
        await a.setStatus("UP");
        await seen.until("[127.0.0.1:9101,127.0.0.1:9102]");

        await a.deregister();
        await b.deregister();
        await seen.until("[]");
        assert.deepStrictEqual(seen.events.filter((e) => e.startsWith("error")), []);
        assert.equal(await client.getApplication(app), undefined);
      } finally {
        a.stop();
        b.stop();
        endpointer.close();
        instancer.stop();
        everyone.stop();
        await client.deregister(app, a.instanceId).catch(() => {});
        await client.deregister(app, b.instanceId).catch(() => {});
      }
    }),
);

serverTest(
  "Eureka: heartbeats keep a 2 s lease alive, and after stop() the server evicts the instance",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("EVICT");
      const client = new EurekaClient({ urls: url });
      const r = registrar(client, app, 9103, { durationInSecs: 2 });
      const seen = events(r);
      // notFoundGrace 0: eviction must show as an empty set at once, not after the restart grace.
      const instancer = new EurekaInstancer(client, app, { interval: 250, notFoundGrace: 0 });
      const recorder = new Recorder(instancer);
      try {
        await recorder.until("[]"); // the first poll: nothing registered yet
        await r.register();
        await recorder.until("[127.0.0.1:9103]");
        // Three times the 4 s that an unrenewed lease lasts on this server (2 x durationInSecs).
        await sleep(12_000);
        assert.equal((await client.getApplication(app))?.instances.length, 1, "still registered");
        assert.deepStrictEqual(recorder.events, ["[]", "[127.0.0.1:9103]"]);
        r.stop();
        await recorder.until("[]", 15_000);
        assert.deepStrictEqual(seen, ["registered"]);
      } finally {
        r.stop();
        instancer.stop();
        await client.deregister(app, r.instanceId).catch(() => {});
      }
    }),
);

serverTest(
  "Eureka: after a server restart the registrar's next heartbeat registers again, and instancers recover",
  VARIABLE,
  (url) =>
    withEurekaLock("exclusive", async () => {
      const app = uniqueApp("RESTART");
      const client = new EurekaClient({ urls: url, timeout: 2000 });
      const r = registrar(client, app, 9104, { durationInSecs: 5, backoff: { initial: 500, max: 1000 } });
      const seen = events(r);
      const instancer = new EurekaInstancer(client, app, { interval: 250, backoff: { max: 1000 } });
      const registry = new EurekaRegistry(client, { interval: 250, backoff: { max: 1000 } });
      const fromRegistry = registry.instancer(app);
      const direct = new Recorder(instancer);
      const shared = new Recorder(fromRegistry);
      try {
        await r.register();
        await r.setStatus("OUT_OF_SERVICE");
        await r.setStatus("UP");
        await direct.until("[127.0.0.1:9104]");
        await shared.until("[127.0.0.1:9104]");
        await restartEureka();
        await waitFor(`re-registration (events: ${seen.join(" ")})`, () =>
          seen.includes("reregistered"), 20_000);
        assert.equal((await client.getInstance(app, r.instanceId))?.status, "UP");
        await direct.until("[127.0.0.1:9104]", 10_000);
        await shared.until("[127.0.0.1:9104]", 10_000);
        // While the server was down both reported errors, keeping the instance; once it was back
        // up but had not heard from the registrar yet, it had no such application: an empty set.
        for (const recorder of [direct, shared]) {
          const events = recorder.events.join(" ");
          assert.match(events, /^(\[\] )?\[127\.0\.0\.1:9104\] error:RegistryUnavailableError/, events);
          assert.match(events, /\[127\.0\.0\.1:9104\]$/, events);
        }
        assert.equal(r.registered, true);
      } finally {
        r.stop();
        instancer.stop();
        registry.stop();
        await client.deregister(app, r.instanceId).catch(() => {});
      }
    }),
);

serverTest(
  "Eureka: a registry copy kept by deltas equals a full fetch",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const apps = [uniqueApp("DELTA"), uniqueApp("DELTA")];
      const counting = new CountingFetch(url);
      const client = new EurekaClient({ urls: url, fetch: counting.fetch });
      const plain = new EurekaClient({ urls: url });
      const registry = new EurekaRegistry(client, { interval: 200 });
      const registrars = [0, 1, 2, 3].map((n) => registrar(plain, apps[n % 2]!, 9110 + n));
      const first = new Recorder(registry.instancer(apps[0]!));
      const second = new Recorder(registry.instancer(apps[1]!));
      /** Our applications as `APP id STATUS k=v...` lines. */
      const ours = (
        list: readonly {
          name: string;
          instances: readonly {
            instanceId: string;
            status: string;
            metadata: Readonly<Record<string, string>>;
          }[];
        }[],
      ) =>
        list.filter((a) => apps.includes(a.name)).flatMap((a) =>
          a.instances.map((i) =>
            `${a.name} ${i.instanceId} ${i.status} ${
              Object.entries(i.metadata).sort().map((e) => e.join("=")).join(",")
            }`
          )
        ).sort();
      try {
        const converged = () =>
          waitFor("the copy to equal a full fetch", async () => {
            const full = await plain.getApplications();
            return JSON.stringify(ours(full.applications)) ===
              JSON.stringify(ours(registry.applications() ?? []));
          });
        await first.until("[]");
        // One change at a time, each seen through a delta before the next.
        for (const r of registrars) await r.register();
        await first.until("[127.0.0.1:9110,127.0.0.1:9112]");
        await second.until("[127.0.0.1:9111,127.0.0.1:9113]");
        await registrars[1]!.setStatus("OUT_OF_SERVICE");
        await second.until("[127.0.0.1:9113]");
        await registrars[2]!.setMetadata({ version: "v2" });
        await converged();
        await registrars[3]!.deregister();
        await second.until("[]");
        await registrars[0]!.setStatus("DOWN");
        await first.until("[127.0.0.1:9112]");
        await converged();
        const expected = [
          `${apps[0]} 127.0.0.1:${apps[0]!.toLowerCase()}:9110 DOWN zone=zone-a`,
          `${apps[0]} 127.0.0.1:${apps[0]!.toLowerCase()}:9112 UP version=v2,zone=zone-a`,
          `${apps[1]} 127.0.0.1:${apps[1]!.toLowerCase()}:9111 OUT_OF_SERVICE zone=zone-a`,
        ];
        assert.deepStrictEqual(ours(registry.applications()!), expected);
        assert.ok(counting.count("/apps/delta") >= 5, `deltas used: ${counting.paths.join(" ")}`);
        assert.ok(counting.count("/apps") >= 1);
      } finally {
        registry.stop();
        for (const r of registrars) {
          r.stop();
          await plain.deregister(r.app, r.instanceId).catch(() => {});
        }
      }
    }),
);

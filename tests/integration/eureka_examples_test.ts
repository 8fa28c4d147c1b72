// The Eureka examples against the real Eureka server: services register with
// examples/eureka_service.ts, the Hono gateway of examples/eureka_gateway.ts discovers them and
// spreads requests, one taking itself out of service drops out, one deregistering drops out, and the
// service run as a program deregisters on SIGINT.
//   eval "$(bash scripts/servers/eureka.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/eureka_examples_test.ts
import { assert } from "../_deps.ts";
import { startGateway } from "./_gateway.ts";
import { type RunningService, startService } from "../../examples/eureka_service.ts";
import { EurekaClient } from "../../src/eureka/mod.ts";
import { serverTest } from "./_server.ts";
import { uniqueApp, withEurekaLock } from "./_eureka_sd.ts";
import { sleep, waitFor } from "./_etcd_sd.ts";

const VARIABLE = "SD_EUREKA_URL";

serverTest(
  "The Eureka gateway example balances over registered services and drops those out of service or gone",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("GW");
      const services: RunningService[] = [];
      const gateway = await startGateway("eureka_gateway", {
        SD_EUREKA_URLS: url,
        SD_APP: app,
        SD_POLL_MS: "250",
      });
      try {
        for (let i = 0; i < 2; i++) {
          services.push(
            await startService({
              app,
              eurekaUrls: [url],
              renewalIntervalInSecs: 1,
              durationInSecs: 3,
              metadata: { zone: "zone-a" },
            }),
          );
        }
        const [a, b] = services as [RunningService, RunningService];
        await gateway.waitForCount(app, 2);

        const seen: string[] = [];
        for (let i = 0; i < 4; i++) {
          const response = await gateway.request(`/api/items/${i}?q=1`);
          assert.equal(response.status, 200);
          const body = await response.json();
          assert.equal(body.path, `/items/${i}`);
          seen.push(body.instance);
        }
        assert.deepStrictEqual(new Set(seen), new Set([a.instance, b.instance]));
        assert.notEqual(seen[0], seen[1], "round robin alternates");

        const status = await (await gateway.request("/_gateway/status")).json();
        const listed = status.services[app];
        assert.deepStrictEqual(
          listed.instances.map((
            i: { instance: string; id: string; meta: Record<string, string>; zone: string },
          ) => ({
            instance: i.instance,
            id: i.id,
            status: i.meta["eureka.status"],
            zone: i.zone ?? null,
          })),
          [a, b].sort((x, y) => (x.instance < y.instance ? -1 : 1)).map((s) => ({
            instance: s.instance,
            id: s.instanceId,
            status: "UP",
            zone: "zone-a",
          })),
        );
        assert.equal(listed.error, null);

        // The first takes itself out of rotation through its admin endpoint.
        const out = await fetch(`http://${a.instance}/admin/out-of-service`, { method: "POST" });
        assert.deepStrictEqual(await out.json(), { status: "OUT_OF_SERVICE" });
        await gateway.waitForCount(app, 1);
        for (let i = 0; i < 3; i++) {
          const body = await (await gateway.request("/api/after")).json();
          assert.equal(body.instance, b.instance);
        }
        const back = await fetch(`http://${a.instance}/admin/in-service`, { method: "POST" });
        await back.body?.cancel();
        await gateway.waitForCount(app, 2);

        await b.stop();
        await gateway.waitForCount(app, 1);
        assert.equal((await gateway.instances(app))[0]!.instance, a.instance);
      } finally {
        await gateway.stop();
        for (const s of services) await s.stop().catch(() => {});
        await sleep(20);
      }
    }),
);

serverTest(
  "The Eureka service example run as a program registers, serves and deregisters on SIGINT",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("PROG");
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-net=127.0.0.1", "examples/eureka_service.ts", app, url],
        cwd: new URL("../../", import.meta.url),
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const gateway = await startGateway("eureka_gateway", {
        SD_EUREKA_URLS: url,
        SD_APP: app,
        SD_POLL_MS: "250",
      });
      const client = new EurekaClient({ urls: url });
      let exited = false;
      try {
        await gateway.waitForCount(app, 1, 15_000);
        const instance = (await gateway.instances(app))[0]!.instance;
        const body = await (await gateway.request("/api/ping")).json();
        assert.deepStrictEqual([body.app, body.instance, body.path], [app, instance, "/ping"]);

        child.kill("SIGINT");
        const { code, stdout } = await child.output();
        exited = true;
        const out = new TextDecoder().decode(stdout);
        assert.equal(code, 0, out);
        const id = `127.0.0.1:${app.toLowerCase()}:${instance.split(":")[1]}`;
        assert.match(out, new RegExp(`${app} at http://${instance}, registered as ${id}`));
        assert.match(out, /deregistered/);
        assert.equal(await client.getApplication(app), undefined, "Eureka no longer has it");
        // Eureka answers 404 for the application now; the instancer rides that out for its
        // notFoundGrace (30 s) as a discovery error before it empties the set: either shows it gone.
        await waitFor("the instance gone from the gateway", async () => {
          const { services } = await (await gateway.request("/_gateway/status")).json();
          return services[app].count === 0 || services[app].error?.code === "ERR_REGISTRY_REJECTED";
        }, 15_000);
      } finally {
        await gateway.stop();
        if (!exited) {
          child.kill("SIGKILL");
          await child.output();
        }
        await sleep(20);
      }
    }),
);

// Pull mode against a real Spring Cloud Netflix Eureka server (SD_EUREKA_URL, started by
// scripts/servers/eureka.sh): a PullInstancer over eurekaLookup sees two registered instances, then
// one after the TTL once one deregisters; a fresh refresh sends nothing, each lookup is one GET; an
// application the server does not know is an error unless `notFound: "empty"`.
import { assert } from "../_deps.ts";
import { EurekaClient, eurekaLookup, EurekaRegistrar } from "../../src/eureka/mod.ts";
import { RegistryRejectedError } from "../../src/errors.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { serverTest } from "./_server.ts";
import { CountingFetch, uniqueApp, withEurekaLock } from "./_eureka_sd.ts";
import { sleep } from "./_etcd_sd.ts";

const VARIABLE = "SD_EUREKA_URL";
const TTL = 400;

serverTest(
  "Eureka pull: a PullInstancer over eurekaLookup sees two instances, then one after the TTL; fresh refreshes send nothing",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("PULL");
      const counter = new CountingFetch(url);
      const client = new EurekaClient({ urls: url, fetch: counter.fetch });
      const registrars = [9101, 9102].map((port) =>
        new EurekaRegistrar(client, { app, ipAddr: "127.0.0.1", port, renewalIntervalInSecs: 5 })
      );
      using instancer = new PullInstancer(eurekaLookup(client, app), { ttl: TTL, staleWhileRevalidate: 0 });
      let registered = 0;
      // Registrations POST to the same path: count only what came after them.
      const reads = () => counter.count(`/apps/${app}`) - registered;
      try {
        await Promise.all(registrars.map((r) => r.register()));
        registered = counter.count(`/apps/${app}`);
        const first = await instancer.refresh();
        assert.deepStrictEqual([first.source, first.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);
        assert.equal(instancer.details("127.0.0.1:9101")?.status, "passing");
        assert.equal(reads(), 1, "one GET per lookup");

        const fresh = await instancer.refresh();
        assert.deepStrictEqual([fresh.source, fresh.lookups], ["fresh", 0]);
        assert.equal(reads(), 1, "a fresh refresh sends no request");

        await registrars[1]!.deregister();
        assert.equal((await instancer.refresh()).source, "fresh");
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101", "127.0.0.1:9102"]);

        await sleep(TTL + 50);
        const after = await instancer.refresh();
        assert.deepStrictEqual([after.source, after.lookups], ["refreshed", 1]);
        assert.deepStrictEqual(instancer.state()?.instances, ["127.0.0.1:9101"]);
        assert.equal(reads(), 2);
      } finally {
        await Promise.allSettled(registrars.map((r) => r.deregister()));
        for (const r of registrars) r.stop();
      }
    }),
);

serverTest(
  "Eureka pull: an unknown application is a 404 error by default, an empty set with notFound: empty",
  VARIABLE,
  (url) =>
    withEurekaLock("shared", async () => {
      const app = uniqueApp("PULL-NONE");
      const client = new EurekaClient({ urls: url });
      const signal = AbortSignal.timeout(10_000);
      const error = await eurekaLookup(client, app)({ signal }).then(() => undefined, (e) => e);
      assert.ok(error instanceof RegistryRejectedError, String(error));
      assert.equal(error.status, 404);
      assert.deepStrictEqual(await eurekaLookup(client, app, { notFound: "empty" })({ signal }), {
        instances: [],
        ttl: undefined,
      });
    }),
);

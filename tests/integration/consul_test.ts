// The Consul backend against a real agent (SD_CONSUL_ADDR, started by scripts/servers/consul.sh):
// registration and discovery end to end, health and weights, tags and filters, the idle request rate
// of blocking queries, and re-registration after an agent restart. Every service name is unique per
// run; every wait is bounded. go-kit equivalent: sd/consul TestIntegration.
import { assert } from "../_deps.ts";
import {
  ConsulClient,
  ConsulInstancer,
  type ConsulInstancerOptions,
  ConsulRegistrar,
  type ConsulServiceRegistration,
  lookupHealthService,
} from "../../src/consul/mod.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import type { RegistrarEvent } from "../../src/registrar.ts";
import { consulScript, instancesOf, setCheck, summary, uniqueName, until, within } from "../consul/_real.ts";
import { serverTestLocked } from "./_server.ts";

// Consul tests share the agent; the restart test takes it for itself.
const serverTest = serverTestLocked("consul", "shared");

// Quick pacing for tests: short blocking waits and a fast token bucket.
const FAST: ConsulInstancerOptions = { wait: 5_000, rateLimit: { burst: 2, interval: 200 } };

const ttlService = (name: string, port: number, extra: Partial<ConsulServiceRegistration> = {}) => ({
  name,
  address: "127.0.0.1",
  port,
  checks: [{ ttl: 30_000, deregisterCriticalServiceAfter: 60_000 }],
  ...extra,
});

/** Runs `body`, then stops and deregisters everything it made, whatever happened. */
async function scoped(
  body: (own: { registrars: ConsulRegistrar[]; instancers: ConsulInstancer[] }) => Promise<void>,
): Promise<void> {
  const own = { registrars: [] as ConsulRegistrar[], instancers: [] as ConsulInstancer[] };
  try {
    await body(own);
  } finally {
    for (const instancer of own.instancers) instancer.stop();
    await Promise.allSettled(own.registrars.map((r) => r.deregister()));
  }
}

serverTest(
  "Consul: three registered instances appear, and a deregistered one disappears",
  "SD_CONSUL_ADDR",
  (address) =>
    scoped(async ({ registrars, instancers }) => {
      const name = uniqueName("three");
      const client = new ConsulClient({ address });
      const instancer = new ConsulInstancer(client, name, FAST);
      instancers.push(instancer);
      await until(instancer, (e) => e.error === undefined && e.instances.length === 0, "an empty service");
      for (const port of [9001, 9002, 9003]) {
        registrars.push(new ConsulRegistrar(client, ttlService(name, port)));
      }
      await Promise.all(registrars.map((r) => r.register()));
      const event = await until(instancer, (e) => instancesOf(e).length === 3, "three instances");
      assert.deepStrictEqual(instancesOf(event), ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]);
      assert.deepStrictEqual(event.details?.get("127.0.0.1:9002"), {
        id: `${name}-127.0.0.1-9002`,
        tags: [],
        zone: "dc1",
        status: "passing",
        weight: 1,
      });
      await registrars[1]!.deregister();
      const after = await until(instancer, (e) => instancesOf(e).length === 2, "two instances");
      assert.deepStrictEqual(instancesOf(after), ["127.0.0.1:9001", "127.0.0.1:9003"]);
    }),
);

serverTest(
  "Consul: a failing check removes an instance from a passing-only instancer; a warning one gets Weights.Warning",
  "SD_CONSUL_ADDR",
  (address) =>
    scoped(async ({ registrars, instancers }) => {
      const name = uniqueName("health");
      const client = new ConsulClient({ address });
      for (const port of [9001, 9002, 9003]) {
        registrars.push(
          // No keep-alive: the test sets the check statuses by hand.
          new ConsulRegistrar(client, ttlService(name, port, { weights: { passing: 10, warning: 2 } }), {
            keepAlive: false,
          }),
        );
      }
      await Promise.all(registrars.map((r) => r.register()));
      const passing = new ConsulInstancer(client, name, FAST);
      const all = new ConsulInstancer(client, name, { ...FAST, passingOnly: false });
      instancers.push(passing, all);
      await until(passing, (e) => instancesOf(e).length === 3, "three passing");
      const check = (port: number) => `service:${name}-127.0.0.1-${port}`;

      await setCheck(address, check(9001), "fail");
      const failed = await until(passing, (e) => instancesOf(e).length === 2, "9001 gone");
      assert.deepStrictEqual(instancesOf(failed), ["127.0.0.1:9002", "127.0.0.1:9003"]);

      await setCheck(address, check(9002), "warn");
      await until(passing, (e) => instancesOf(e).join() === "127.0.0.1:9003", "only 9003 passing");
      const mixed = await until(
        all,
        (e) => e.details?.get("127.0.0.1:9002")?.status === "warning",
        "9002 warning in the all-status instancer",
      );
      const brief = (i: string) => `${mixed.details?.get(i)?.status}/${mixed.details?.get(i)?.weight}`;
      assert.deepStrictEqual(
        ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"].map(brief),
        ["critical/2", "warning/2", "passing/10"],
      );

      await setCheck(address, check(9002), "pass");
      await until(passing, (e) => instancesOf(e).length === 2, "9002 passing again");
    }),
);

serverTest(
  "Consul: tags and filter expressions select the right subset (go-kit TestIntegration)",
  "SD_CONSUL_ADDR",
  (address) =>
    scoped(async ({ registrars, instancers }) => {
      const name = uniqueName("tags");
      const client = new ConsulClient({ address });
      const both = new ConsulInstancer(client, name, { ...FAST, tags: ["alpha", "beta"] });
      instancers.push(both);
      // As go-kit's integration test: no endpoints before the registration, one after.
      const endpointer = new DefaultEndpointer(
        both,
        (instance) => ({ endpoint: () => Promise.resolve(instance) }),
      );
      try {
        await endpointer.ready({ signal: AbortSignal.timeout(10_000) });
        assert.equal(endpointer.endpoints().length, 0);
        registrars.push(
          new ConsulRegistrar(
            client,
            ttlService(name, 9001, { tags: ["alpha", "beta"], meta: { version: "2" } }),
          ),
          new ConsulRegistrar(client, ttlService(name, 9002, { tags: ["alpha"], meta: { version: "1" } })),
          new ConsulRegistrar(client, ttlService(name, 9003, { tags: ["beta"], meta: { version: "2" } })),
        );
        await Promise.all(registrars.map((r) => r.register()));
        await until(both, (e) => instancesOf(e).length === 1, "the alpha+beta instance");
        assert.deepStrictEqual(endpointer.entries().map((e) => e.instance), ["127.0.0.1:9001"]);
      } finally {
        endpointer.close();
      }
      const cases: [Partial<ConsulInstancerOptions>, string[]][] = [
        [{ tags: ["alpha", "beta"], tagMode: "param" }, ["127.0.0.1:9001"]],
        [{ tags: ["alpha"] }, ["127.0.0.1:9001", "127.0.0.1:9002"]],
        [{ filter: 'Service.Meta.version == "2"' }, ["127.0.0.1:9001", "127.0.0.1:9003"]],
        [{ tags: ["alpha"], filter: 'Service.Meta.version == "2"' }, ["127.0.0.1:9001"]],
        [{ tags: ["beta"], consistency: "stale" }, ["127.0.0.1:9001", "127.0.0.1:9003"]],
        [{ tags: ["beta"], consistency: "consistent" }, ["127.0.0.1:9001", "127.0.0.1:9003"]],
      ];
      for (const [options, expected] of cases) {
        const instancer = new ConsulInstancer(client, name, { ...FAST, ...options });
        instancers.push(instancer);
        const event = await until(instancer, () => true, JSON.stringify(options));
        assert.deepStrictEqual(instancesOf(event), expected, `${JSON.stringify(options)}: ${summary(event)}`);
        instancer.stop();
      }
      const once = await lookupHealthService(client, name, { tags: ["alpha"] });
      assert.deepStrictEqual(once.instances.map((i) => typeof i === "string" ? i : i.instance), [
        "127.0.0.1:9001",
        "127.0.0.1:9002",
      ]);
      assert.ok(once.index > 0);
      // Consul rejects a bad filter expression; that is the caller's error, not an outage.
      const bad = new ConsulInstancer(client, name, { ...FAST, filter: "Service.Nope ==" });
      instancers.push(bad);
      const failure = await until(bad, () => true, "the bad filter's answer");
      assert.equal(failure.error?.name, "ConsulHttpError", summary(failure));
    }),
);

serverTest(
  "Consul: an idle instancer sends about one request per wait",
  "SD_CONSUL_ADDR",
  (address) =>
    scoped(async ({ registrars, instancers }) => {
      const name = uniqueName("idle");
      const times: number[] = [];
      const client = new ConsulClient({
        address,
        fetch: (input, init) => {
          if (String(input).includes("/v1/health/service/")) times.push(performance.now());
          return fetch(input, init);
        },
      });
      registrars.push(new ConsulRegistrar(client, { name, address: "127.0.0.1", port: 9001 }));
      await registrars[0]!.register();
      const instancer = new ConsulInstancer(client, name, { wait: 2_000 });
      instancers.push(instancer);
      await until(instancer, (e) => instancesOf(e).length === 1, "the instance");
      const start = performance.now();
      const errors: string[] = [];
      instancer.subscribe((e) => void (e.error !== undefined && errors.push(e.error.message)));
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      const sent = times.filter((t) => t >= start).length;
      // 12 s at one query per 2 s (plus Consul's up-to-1/16 jitter): about 6.
      assert.ok(sent >= 5 && sent <= 7, `${sent} queries in 12 s`);
      assert.deepStrictEqual(errors, []);
    }),
);

serverTestLocked("consul", "exclusive")(
  "Consul: after an agent restart the registrar registers again and the instancer sees it",
  "SD_CONSUL_ADDR",
  (address) =>
    scoped(async ({ registrars, instancers }) => {
      const name = uniqueName("restart");
      const client = new ConsulClient({ address, timeout: 2_000 });
      // A 3 s TTL renewed every second, retried at most a second apart while the agent is down.
      const registrar = new ConsulRegistrar(client, ttlService(name, 9001, { checks: [{ ttl: 3_000 }] }), {
        backoff: { initial: 200, max: 1_000 },
      });
      registrars.push(registrar);
      // The instancer notices the restart either way: the query open when the agent stops fails, or
      // (when it was pacing, with no query open) the next answer's index has gone backwards.
      let noticed = false;
      const logger = {
        debug() {},
        info() {},
        warn(message: string) {
          if (/query failed|went backwards/.test(message)) noticed = true;
        },
        error() {},
      };
      const instancer = new ConsulInstancer(client, name, {
        ...FAST,
        backoff: { initial: 200, max: 1_000 },
        logger,
      });
      instancers.push(instancer);
      await registrar.register();
      await until(instancer, (e) => instancesOf(e).length === 1, "the instance");
      const reregistered = new Promise<RegistrarEvent>((resolve) =>
        registrar.addEventListener("reregistered", (e) => resolve(e as RegistrarEvent), { once: true })
      );
      await consulScript("restart");
      for (let waited = 0; !noticed; waited += 50) {
        if (waited > 20_000) throw new Error("The instancer never noticed the agent restart");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const event = await within(reregistered, 20_000, "the reregistered event");
      assert.equal(event.instance, "127.0.0.1:9001");
      const back = await until(
        instancer,
        (e) => instancesOf(e).length === 1,
        "the instance after the restart",
      );
      assert.equal(back.details?.get("127.0.0.1:9001")?.status, "passing");
    }),
);

// ConsulInstancer against the fake agent on fake time: what it asks for, what it publishes, and how
// the blocking loop moves (index, wait, pacing). go-kit equivalents: TestInstancer,
// TestInstancerNoService, TestInstancerWithTags, TestInstancerAddressOverride. Failures and the
// index rules are in loop_test.ts and faults_test.ts.
import { assert } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import { ConsulClient } from "../../src/consul/client.ts";
import { ConsulInstancer } from "../../src/consul/instancer.ts";
import { api, withInstancer } from "./_setup.ts";

function seeded(...services: Parameters<FakeConsul["put"]>[0][]): FakeConsul {
  const consul = new FakeConsul();
  for (const s of services) consul.put(s);
  return consul;
}

Deno.test("ConsulInstancer publishes the passing instances with their details at once (go-kit TestInstancer)", async () => {
  const consul = seeded(
    api(1),
    api(2, { tags: ["api"] }),
    api(3, { checks: [{ id: "c3", status: "critical" }] }),
    { id: "db-1", name: "db", address: "10.0.9.1", port: 5432 },
  );
  await withInstancer({ consul }, async ({ clock, instancer, events, queries }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080]"]);
    assert.deepStrictEqual(instancer.details("10.0.0.2:8080"), {
      id: "api-2",
      tags: ["api"],
      zone: "dc1",
      status: "passing",
      weight: 1,
    });
    const first = consul.healthRequests()[0]!.url;
    assert.equal(first.pathname, "/v1/health/service/api");
    assert.equal(first.search, "?passing=1");
    // The first query answers at once; the second blocks on the index it returned.
    assert.deepStrictEqual(queries(), ["-/-", "14/60000ms"]);
    assert.equal(instancer.index, 14);
    assert.equal(instancer.service, "api");
  });
});

Deno.test("ConsulInstancer publishes an empty set for a service nobody registered (go-kit TestInstancerNoService)", async () => {
  await withInstancer({ consul: seeded(api(1)), service: "feed" }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[]"]);
  });
});

Deno.test("ConsulInstancer matches several tags on the server with a filter expression (go-kit TestInstancerWithTags)", async () => {
  const consul = seeded(api(1, { tags: ["api", "v2"] }), api(2, { tags: ["api"] }), api(3, { tags: ["v2"] }));
  await withInstancer({ consul, options: { tags: ["api", "v2"] } }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]"]);
    const url = consul.healthRequests()[0]!.url;
    assert.equal(url.searchParams.get("filter"), '"api" in Service.Tags and "v2" in Service.Tags');
    assert.deepStrictEqual(url.searchParams.getAll("tag"), []);
  });
});

Deno.test("ConsulInstancer can send tags as repeated tag parameters for old servers", async () => {
  const consul = seeded(api(1, { tags: ["api", "v2"] }), api(2, { tags: ["api"] }));
  await withInstancer(
    { consul, options: { tags: ["api", "v2"], tagMode: "param" } },
    async ({ clock, events }) => {
      await clock.tickAsync(0);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]"]);
      const url = consul.healthRequests()[0]!.url;
      assert.deepStrictEqual(url.searchParams.getAll("tag"), ["api", "v2"]);
      assert.equal(url.searchParams.get("filter"), null);
    },
  );
});

Deno.test("ConsulInstancer ands a filter expression with the tags", async () => {
  const consul = seeded(
    api(1, { tags: ["api"], meta: { version: "2" } }),
    api(2, { tags: ["api"], meta: { version: "1" } }),
    api(3, { meta: { version: "2" } }),
  );
  const filter = 'Service.Meta.version == "2"';
  await withInstancer(
    { consul, options: { tags: ["api"], filter } },
    async ({ clock, events, instancer }) => {
      await clock.tickAsync(0);
      assert.deepStrictEqual(events, ["[10.0.0.1:8080]"]);
      assert.equal(
        consul.healthRequests()[0]!.url.searchParams.get("filter"),
        '"api" in Service.Tags and (Service.Meta.version == "2")',
      );
      assert.deepStrictEqual(instancer.details("10.0.0.1:8080")?.meta, { version: "2" });
    },
  );
});

Deno.test("ConsulInstancer quotes tags that hold quotes and backslashes", async () => {
  const tag = 'we"ird\\tag';
  const consul = seeded(api(1, { tags: [tag] }), api(2, { tags: ["weird"] }));
  await withInstancer({ consul, options: { tags: [tag] } }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080]"]);
    assert.equal(
      consul.healthRequests()[0]!.url.searchParams.get("filter"),
      '"we\\"ird\\\\tag" in Service.Tags',
    );
  });
});

Deno.test("ConsulInstancer uses Service.Address over Node.Address and brackets IPv6 (go-kit TestInstancerAddressOverride)", async () => {
  const node = (address: string) => ({ name: `n-${address}`, address, datacenter: "dc1" });
  const consul = seeded(
    { id: "db-0", name: "db", port: 9000, address: "10.0.0.10", node: node("10.0.0.1") },
    { id: "db-1", name: "db", port: 9001, address: "", node: node("10.0.0.2") },
    { id: "db-2", name: "db", port: 9002, address: "2001:db8::10", node: node("10.0.0.3") },
    { id: "db-3", name: "db", port: 9003, address: "", node: node("::1") },
    { id: "db-4", name: "db", port: 0, address: "10.0.0.5", node: node("10.0.0.5") },
  );
  await withInstancer({ consul, service: "db" }, async ({ clock, events }) => {
    await clock.tickAsync(0);
    // The port-less registration is skipped: an instance needs a port.
    assert.deepStrictEqual(events, ["[10.0.0.10:9000,10.0.0.2:9001,[2001:db8::10]:9002,[::1]:9003]"]);
  });
});

Deno.test("ConsulInstancer reports status and the weight Consul gives it, and republishes when they change", async () => {
  const weights = { Passing: 10, Warning: 1 };
  const consul = seeded(
    api(1, { weights, node: { name: "n1", address: "10.0.0.1", datacenter: "eu-west" } }),
    api(2, { weights, checks: [{ id: "c2", status: "warning" }] }),
    api(3, { checks: [{ id: "c3", status: "critical" }] }),
  );
  await withInstancer({ consul, options: { passingOnly: false } }, async ({ clock, events, instancer }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080]"]);
    assert.equal(consul.healthRequests()[0]!.url.search, "");
    const brief = (i: string) => {
      const d = instancer.details(i);
      return `${d?.status}/${d?.weight}/${d?.zone}`;
    };
    assert.deepStrictEqual(
      ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"].map(brief),
      ["passing/10/eu-west", "warning/1/dc1", "critical/1/dc1"],
    );
    consul.setStatus("api-1", "warning");
    await clock.tickAsync(0);
    // Same instances, other details: a new event, so weighted balancers see the new weight.
    assert.equal(events.length, 2);
    assert.equal(brief("10.0.0.1:8080"), "warning/1/eu-west");
  });
});

Deno.test("ConsulInstancer sees a change as soon as Consul answers, then paces the next query", async () => {
  await withInstancer({ consul: seeded(api(1)) }, async ({ clock, consul, events, queries, times }) => {
    await clock.tickAsync(5_000);
    for (const n of [2, 3, 4, 5]) {
      consul.put(api(n));
      await clock.tickAsync(0);
    }
    // Each change was answered at once; the queries after the first three used the burst (3, plus
    // 2 s earned after the first two at 0), so the bucket is empty now.
    assert.equal(events.length, 5);
    assert.deepStrictEqual(times(), [0, 0, 5_000, 5_000, 5_000]);
    // The next change waits for a token: 1 s less the jitter (20% at 0.5). That query blocks for one
    // interval only, since the loop was not watching meanwhile.
    consul.put(api(6));
    await clock.tickAsync(899);
    assert.equal(events.length, 5);
    await clock.tickAsync(1);
    assert.equal(events.at(-1), `[${[1, 2, 3, 4, 5, 6].map((n) => `10.0.0.${n}:8080`).join(",")}]`);
    assert.deepStrictEqual(times().slice(5), [5_900]);
    assert.deepStrictEqual(queries().slice(4), ["14/60000ms", "15/1000ms"]);
    // Idle: the next query is paced too and held for 1 s, answered unchanged (no event); then the
    // bucket has a token again and the query blocks for the whole wait.
    await clock.tickAsync(1_900);
    assert.deepStrictEqual(times().slice(6), [6_800, 7_800]);
    assert.deepStrictEqual(queries().slice(6), ["16/1000ms", "16/60000ms"]);
    await clock.tickAsync(60_000);
    assert.deepStrictEqual(times().slice(6), [6_800, 7_800, 67_800]);
    assert.equal(events.length, 6);
  });
});

Deno.test("ConsulInstancer sends stale and consistent reads when asked", async (t) => {
  for (const consistency of ["stale", "consistent"] as const) {
    await t.step(consistency, async () => {
      const consul = seeded(api(1));
      await withInstancer({ consul, options: { consistency } }, async ({ clock }) => {
        await clock.tickAsync(0);
        const url = consul.healthRequests()[0]!.url;
        assert.ok(url.searchParams.has(consistency), url.href);
        assert.match(url.search, new RegExp(`[?&]${consistency}(&|$)`));
      });
    });
  }
});

Deno.test("ConsulInstancer honours a custom wait and token bucket", async () => {
  const options = { wait: 2_000, rateLimit: { burst: 1, interval: 500, jitter: 0 } };
  await withInstancer({ consul: seeded(api(1)), options }, async ({ clock, queries, times }) => {
    await clock.tickAsync(0);
    // A single token: the blocking query waits for the next one, and after that pause blocks for
    // one interval only; then, the bucket full again, for the whole wait.
    assert.deepStrictEqual(times(), [0]);
    await clock.tickAsync(500);
    assert.deepStrictEqual(queries(), ["-/-", "11/500ms"]);
    await clock.tickAsync(2_500);
    assert.deepStrictEqual(times(), [0, 500, 1_000, 3_000]);
    assert.deepStrictEqual(queries().slice(2), ["11/2000ms", "11/2000ms"]);
  });
});

Deno.test("ConsulInstancer.lookup asks once without blocking and leaves the state alone", async () => {
  const consul = seeded(api(1));
  await withInstancer({ consul, options: { tags: ["x"] } }, async ({ clock, events, instancer, queries }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[]"]);
    const done = instancer.lookup({ signal: new AbortController().signal });
    consul.put(api(2, { tags: ["x"] })); // a write after the lookup was sent, before it is answered
    const result = await done;
    assert.deepStrictEqual(result.instances.map((i) => typeof i === "string" ? i : i.instance), [
      "10.0.0.2:8080",
    ]);
    assert.equal(result.index, 12);
    // The lookup went out without index or wait, and with the instancer's filter.
    assert.deepStrictEqual(queries().slice(0, 3), ["-/-", "11/60000ms", "-/-"]);
    assert.equal(consul.healthRequests()[2]!.url.searchParams.get("filter"), '"x" in Service.Tags');
    // Only the instancer's own loop publishes.
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[]", "[10.0.0.2:8080]"]);
  });
});

Deno.test("ConsulInstancer stops when its signal aborts, and stop() is idempotent", async () => {
  const controller = new AbortController();
  await withInstancer({ consul: seeded(api(1)), options: { signal: controller.signal } }, async (ctx) => {
    await ctx.clock.tickAsync(0);
    assert.equal(ctx.consul.parked, 1);
    controller.abort();
    await ctx.clock.tickAsync(0);
    assert.ok(ctx.instancer.stopped);
    // The held query was aborted, not left to run out.
    assert.equal(ctx.consul.parked, 0);
    ctx.instancer.stop();
    ctx.consul.put(api(2));
    await ctx.clock.tickAsync(120_000);
    assert.deepStrictEqual(ctx.events, ["[10.0.0.1:8080]"]);
    assert.equal(ctx.consul.healthRequests().length, 2);
  });
});

Deno.test("ConsulInstancer never starts with an aborted signal", async () => {
  await withInstancer({ consul: seeded(api(1)), options: { signal: AbortSignal.abort() } }, async (ctx) => {
    await ctx.clock.tickAsync(1_000);
    assert.ok(ctx.instancer.stopped);
    assert.deepStrictEqual(ctx.events, []);
    assert.equal(ctx.consul.requests.length, 0);
  });
});

Deno.test("ConsulInstancer rejects bad arguments eagerly, naming the value", () => {
  const client = new ConsulClient({ fetch: () => Promise.reject(new Error("unused")) });
  const bad: [() => unknown, RegExp][] = [
    [() => new ConsulInstancer({} as ConsulClient, "api"), /client must have a healthService\(\) method/],
    [() => new ConsulInstancer(client, ""), /service must be a non-empty string, got ""/],
    [
      () => new ConsulInstancer(client, "api", { wait: 0 }),
      /options.wait must be a finite number >= 1, got 0/,
    ],
    [() => new ConsulInstancer(client, "api", { wait: 600_001 }), /at most 600000 .*got 600001/],
    [() => new ConsulInstancer(client, "api", { rateLimit: { burst: 0 } }), /rateLimit.burst .* got 0/],
    [
      () => new ConsulInstancer(client, "api", { rateLimit: { interval: -1 } }),
      /rateLimit.interval .* got -1/,
    ],
    [() => new ConsulInstancer(client, "api", { backoff: { initial: 0 } }), /backoff.initial .* got 0/],
    [() => new ConsulInstancer(client, "api", { tags: ["a", ""] }), /options.tags must be .*\["a",""\]/],
    [() => new ConsulInstancer(client, "api", { tags: "a" as never }), /options.tags must be .*"a"/],
    [() => new ConsulInstancer(client, "api", { tagMode: "x" as never }), /tagMode must be .*got "x"/],
    [() => new ConsulInstancer(client, "api", { filter: " " }), /filter must be a non-empty string, got " "/],
    [() => new ConsulInstancer(client, "api", { consistency: "fresh" as never }), /got "fresh"/],
    [
      () => new ConsulInstancer(client, "api", { passingOnly: 1 as never }),
      /passingOnly must be a boolean, got 1/,
    ],
    [() => new ConsulInstancer(client, "api", { random: 3 as never }), /options.random must be a function/],
    [
      () => new ConsulInstancer(client, "api", { signal: {} as never }),
      /options.signal must be an AbortSignal/,
    ],
  ];
  for (const [make, message] of bad) assert.throws(make, message);
});

// eurekaLookup: one GET of the application per lookup, selected as the instancer selects (UP only by
// default), no TTL, a 404 as an error by default (or an empty set), aborts and errors.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEureka, inst } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { EurekaInstancer } from "../../src/eureka/instancer.ts";
import { eurekaLookup } from "../../src/eureka/pull.ts";
import { MalformedResponseError, RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";
import { recordingLogger, SERVER } from "./_harness.ts";

const signal = () => new AbortController().signal;

function seeded(): { fake: FakeEureka; client: EurekaClient } {
  const fake = new FakeEureka();
  fake.put(inst(1));
  fake.put(inst(2, { status: "OUT_OF_SERVICE" }));
  fake.put(inst(3, { metadata: { zone: "eu-1" } }));
  return { fake, client: new EurekaClient({ urls: SERVER, fetch: fake.fetch }) };
}

Deno.test("eurekaLookup reads the application once, UP instances only, with details and no TTL", async () => {
  const { fake, client } = seeded();
  const result = await eurekaLookup(client, "users")({ signal: signal() });
  assert.equal(result.ttl, undefined);
  const instances = [...result.instances];
  assert.deepStrictEqual(instances.map((i) => typeof i === "string" ? i : i.instance), [
    "10.0.0.1:8080",
    "10.0.0.3:8080",
  ]);
  const third = instances[1] as { id: string; status: string; zone: string; meta: Record<string, string> };
  assert.deepStrictEqual([third.id, third.status, third.zone], ["users-3", "passing", "eu-1"]);
  assert.equal(third.meta["eureka.status"], "UP");
  assert.deepStrictEqual(fake.requests.map((r) => r.route), ["GET /apps/users"]);
});

Deno.test("eurekaLookup gives what EurekaInstancer.lookup gives, for the same selection", async () => {
  const { client } = seeded();
  const options = { statuses: ["UP", "OUT_OF_SERVICE"] as const, address: "hostName" as const };
  const pulled = await eurekaLookup(client, "users", { ...options, statuses: [...options.statuses] })({
    signal: signal(),
  });
  const clock = fakeTime(0);
  try {
    using instancer = new EurekaInstancer(client, "users", { ...options, statuses: [...options.statuses] });
    assert.deepStrictEqual(pulled.instances, (await instancer.lookup()).instances);
    assert.equal([...pulled.instances].length, 3);
  } finally {
    clock.uninstall();
  }
});

Deno.test("eurekaLookup reports skipped instances to its logger", async () => {
  const { fake, client } = seeded();
  fake.put(inst(4, { portEnabled: false }));
  const logger = recordingLogger();
  await eurekaLookup(client, "users", { logger })({ signal: signal() });
  assert.deepStrictEqual(logger.lines, ["warn Eureka instance without a usable address and port skipped"]);
});

Deno.test("eurekaLookup treats a 404 as an error by default, as an empty set on request", async () => {
  const fake = new FakeEureka();
  const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch });
  const error = await eurekaLookup(client, "payments")({ signal: signal() }).then(() => undefined, (e) => e);
  assert.ok(error instanceof RegistryRejectedError, String(error));
  assert.equal(error.status, 404);
  assert.match(error.message, /Eureka knows no instance of application "payments" \(HTTP 404\)/);
  // The first 404 from a server is checked once against /apps/delta (the base path is right).
  assert.deepStrictEqual(fake.requests.map((r) => r.route), ["GET /apps/payments", "GET /apps/delta"]);
  const empty = await eurekaLookup(client, "payments", { notFound: "empty" })({ signal: signal() });
  assert.deepStrictEqual(empty, { instances: [], ttl: undefined });
  assert.equal(fake.requests.length, 3);
});

Deno.test("a PullInstancer over eurekaLookup keeps the last set through a 404 within staleIfError", async () => {
  const clock = fakeTime(0);
  try {
    const { fake, client } = seeded();
    using instancer = new PullInstancer(eurekaLookup(client, "users"), {
      ttl: 1_000,
      staleWhileRevalidate: 0,
      staleIfError: 60_000,
      random: () => 0.5,
    });
    await instancer.refresh();
    // The server restarts: it knows nobody until the instances' next heartbeats.
    fake.script("GET /apps/users", "notFound");
    await clock.tickAsync(1_000);
    const during = await instancer.refresh();
    assert.equal(during.source, "stale-if-error");
    assert.ok(during.error instanceof RegistryRejectedError);
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080", "10.0.0.3:8080"]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("eurekaLookup checks its arguments when built", () => {
  const { client } = seeded();
  const bad: [() => unknown, RegExp][] = [
    [() => eurekaLookup({} as EurekaClient, "users"), /client must have a getApplication\(\) method/],
    [() => eurekaLookup(client, ""), /app must be a non-empty string, got ""/],
    [() => eurekaLookup(client, "users", null as never), /options must be an object, got null/],
    [
      () => eurekaLookup(client, "users", { notFound: "ignore" as never }),
      /notFound must be "error" or "empty", got "ignore"/,
    ],
    [
      () => eurekaLookup(client, "users", { statuses: ["GONE" as never] }),
      /options.statuses must be an array of .*"GONE"/,
    ],
    [() => eurekaLookup(client, "users", { address: "ip" as never }), /options.address must be .*got "ip"/],
  ];
  for (const [build, message] of bad) assert.throws(build, message);
});

Deno.test("eurekaLookup honours its signal before and during the request", async () => {
  const { fake, client } = seeded();
  const lookup = eurekaLookup(client, "users");
  const before = new AbortController();
  before.abort(new Error("request gone"));
  await assert.rejects(lookup({ signal: before.signal }), /request gone/);
  assert.equal(fake.requests.length, 0);

  fake.script("GET /apps/users", "hang");
  const during = new AbortController();
  const pending = lookup({ signal: during.signal });
  await new Promise((resolve) => setTimeout(resolve, 0));
  during.abort(new Error("client went away"));
  await assert.rejects(pending, /client went away/);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0]!.signal?.aborted, true);
});

Deno.test("eurekaLookup turns bad answers into clear errors, without credentials", async () => {
  const cases: [string, new (...args: never[]) => Error, RegExp][] = [
    ["garbage", MalformedResponseError, /answered \/apps\/\{app\} with invalid JSON: "<\?xml/],
    ["wrongShape", MalformedResponseError, /answered with "\{\\"apps\\":\[\]\}", expected \{"application"/],
    [
      "http500",
      RegistryUnavailableError,
      /at http:\/\/a\.test:8761\/eureka answered 500 to GET \/apps\/users/,
    ],
  ];
  for (const [fault, type, message] of cases) {
    const fake = new FakeEureka();
    fake.put(inst(1));
    fake.script("GET /apps/users", fault as never);
    const client = new EurekaClient({ urls: "http://svc:pa55word@a.test:8761/eureka", fetch: fake.fetch });
    const error = await eurekaLookup(client, "users")({ signal: signal() }).then(() => undefined, (e) => e);
    assert.ok(error instanceof type, `${fault}: ${error}`);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("pa55word"), error.message);
  }
});

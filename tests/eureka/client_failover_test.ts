// EurekaClient with several servers, dead or stalling ones, and cancelled calls, on fake time.
import { assert, fakeTime } from "../_deps.ts";
import { FakeEureka, inst } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";
import { recordingLogger } from "./_harness.ts";

const A = "http://a.test:8761/eureka";
const B = "http://b.test:8761/eureka";

/** A fetch that sends a.test's requests through `faults` first, then to the fake. */
function twoServers(fake: FakeEureka, aFaults: ("network" | "http500" | "http400")[]) {
  return (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.hostname === "a.test" && aFaults.length > 0) {
      const fault = aFaults.shift()!;
      fake.requests.push({ server: url.origin, route: `fault ${fault}` } as never);
      if (fault === "network") return Promise.reject(new TypeError("Connection refused"));
      return Promise.resolve(new Response("boom", { status: fault === "http500" ? 500 : 400 }));
    }
    return fake.fetch(input, init);
  };
}

Deno.test("EurekaClient fails over to the next server and starts there next time", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  const logger = recordingLogger();
  const client = new EurekaClient({ urls: [A, B], fetch: twoServers(fake, ["network", "http500"]), logger });
  assert.equal((await client.getApplication("users"))?.instances.length, 1);
  assert.equal((await client.getApplication("users"))?.instances.length, 1);
  assert.deepStrictEqual(fake.requests.map((r) => `${r.server} ${r.route}`), [
    "http://a.test:8761 fault network",
    "http://b.test:8761 GET /apps/users",
    "http://b.test:8761 GET /apps/users",
  ]);
  assert.deepStrictEqual(logger.lines, ["warn Eureka server failed; trying the next one"]);
});

Deno.test("EurekaClient fails over on a 500 but not on a 4xx", async () => {
  const fake = new FakeEureka();
  const five = new EurekaClient({ urls: [A, B], fetch: twoServers(fake, ["http500"]) });
  await five.getApplications();
  assert.deepStrictEqual(fake.requests.map((r) => r.server), ["http://a.test:8761", "http://b.test:8761"]);
  const four = new EurekaClient({ urls: [A, B], fetch: twoServers(fake, ["http400"]) });
  await assert.rejects(four.getApplications(), RegistryRejectedError);
  assert.equal(fake.requests.length, 3, "a refusal is final: no second server");
});

Deno.test("EurekaClient throws the last server's error when every server fails", async () => {
  const client = new EurekaClient({
    urls: [A, B],
    fetch: (input) => Promise.reject(new TypeError(`refused ${new URL(String(input)).hostname}`)),
  });
  await assert.rejects(client.getApplications(), (e: Error) =>
    e instanceof RegistryUnavailableError &&
    e.message === "Eureka at http://b.test:8761/eureka failed GET /apps: TypeError: refused b.test" &&
    e.cause instanceof TypeError);
});

Deno.test("EurekaClient gives up on a server that does not answer within the timeout", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEureka();
    fake.script("GET /apps", "hang");
    const client = new EurekaClient({ urls: A, fetch: fake.fetch, timeout: 2000 });
    const call = client.getApplications();
    const settled = assert.rejects(
      call,
      (e: Error) =>
        e instanceof RegistryUnavailableError &&
        /failed GET \/apps: no answer within 2000 ms/.test(e.message),
    );
    await clock.tickAsync(1999);
    assert.equal(fake.requests[0]!.signal?.aborted, false);
    await clock.tickAsync(1);
    await settled;
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EurekaClient's timeout covers the body: a stalled body fails over to the next server", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEureka();
    fake.put(inst(1));
    fake.script("GET /apps/users", "stallBody");
    const client = new EurekaClient({ urls: [A, B], fetch: fake.fetch, timeout: 3000 });
    const call = client.getApplication("users");
    await clock.tickAsync(3000);
    assert.equal((await call)?.instances[0]?.instanceId, "users-1");
    assert.deepStrictEqual(fake.requests.map((r) => [r.server, r.at]), [
      ["http://a.test:8761", 0],
      ["http://b.test:8761", 3000],
    ]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("EurekaClient rejects with the caller's reason when the caller aborts, without failing over", async () => {
  const clock = fakeTime(0);
  try {
    const fake = new FakeEureka();
    fake.script("GET /apps", "hang");
    const client = new EurekaClient({ urls: [A, B], fetch: fake.fetch });
    const controller = new AbortController();
    const call = client.getApplications({ signal: controller.signal });
    await clock.tickAsync(10);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await assert.rejects(call, (e) => e === reason);
    await assert.rejects(client.getApplications({ signal: controller.signal }), (e) => e === reason);
    assert.equal(fake.requests.length, 1, "no failover, and nothing sent with an aborted signal");
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

// ConsulClient: addresses, headers and scope parameters, timeouts and signals, the body cap, and how
// each HTTP outcome becomes an error. Requests go to an injected fetch (the fake agent or a script).
import { assert, fakeTime } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import { ConsulClient, type ConsulClientOptions } from "../../src/consul/client.ts";
import { ConsulHttpError } from "../../src/consul/errors.ts";
import { MalformedResponseError, RegistryUnavailableError } from "../../src/errors.ts";
import { api } from "./_setup.ts";

/** A client whose fetch answers every request with `respond` and records what was asked. */
function scripted(
  respond: (url: URL, init: RequestInit) => Response | Promise<Response>,
  options: ConsulClientOptions = {},
) {
  const seen: { url: URL; init: RequestInit }[] = [];
  const client = new ConsulClient({
    ...options,
    fetch: (input, init = {}) => {
      const url = new URL(String(input));
      seen.push({ url, init });
      return Promise.resolve(respond(url, init));
    },
  });
  return { client, seen };
}

const health = (entries: unknown, headers: Record<string, string> = { "x-consul-index": "5" }) =>
  new Response(typeof entries === "string" ? entries : JSON.stringify(entries), { headers });

Deno.test("ConsulClient accepts host:port and http(s) URLs with a path prefix", () => {
  const cases: [string | undefined, string][] = [
    [undefined, "http://127.0.0.1:8500/"],
    ["127.0.0.1:8500", "http://127.0.0.1:8500/"],
    ["[::1]:8500", "http://[::1]:8500/"],
    ["https://consul.example:8501", "https://consul.example:8501/"],
    ["https://gw.example/consul/", "https://gw.example/consul/"],
    ["http://gw.example/consul", "http://gw.example/consul/"],
  ];
  for (const [address, expected] of cases) {
    const client = new ConsulClient(address === undefined ? {} : { address });
    assert.equal(client.address, expected);
  }
});

Deno.test("ConsulClient rejects bad options eagerly, naming the value", () => {
  const bad: [ConsulClientOptions, RegExp][] = [
    [{ address: "" }, /options.address must be a non-empty string, got ""/],
    [{ address: "ftp://x:21" }, /must use http or https, got "ftp:\/\/x:21"/],
    [{ address: "http://u:p@x:8500" }, /must not carry credentials.*"http:\/\/u:\*\*\*@x:8500"/],
    [{ address: "http://x:8500/?a=1" }, /a query or a fragment/],
    [{ address: "http://[zz" }, /host:port or an http\(s\) URL, got "http:\/\/\[zz"/],
    [{ token: "" }, /options.token must be a non-empty string, got ""/],
    [{ datacenter: 3 as never }, /options.datacenter must be a non-empty string, got 3/],
    [{ fetch: "fetch" as never }, /options.fetch must be a function, got "fetch"/],
    [{ timeout: 0 }, /options.timeout must be a finite number >= 1, got 0/],
    [{ maxResponseBytes: 1.5 }, /options.maxResponseBytes must be an integer >= 1, got 1.5/],
  ];
  for (const [options, message] of bad) assert.throws(() => new ConsulClient(options), message);
  assert.throws(() => new ConsulClient(null as never), /options must be an object, got null/);
});

Deno.test("ConsulClient sends the token, datacenter, namespace and partition", async () => {
  const { client, seen } = scripted(() => health([]), {
    address: "https://consul.example:8501/proxy",
    token: "t0ken",
    datacenter: "eu-1",
    namespace: "team-a",
    partition: "p1",
  });
  await client.healthService("pay ments", { passing: true, index: 9, wait: 30_000 });
  await client.registerService({ Name: "x" });
  const [read, write] = seen;
  assert.equal(
    read!.url.href,
    "https://consul.example:8501/proxy/v1/health/service/pay%20ments?passing=1&index=9&wait=30000ms&dc=eu-1&ns=team-a&partition=p1",
  );
  assert.equal(new Headers(read!.init.headers).get("x-consul-token"), "t0ken");
  // Agent writes are local to the agent: no dc, but the namespace and partition apply.
  assert.equal(write!.url.search, "?replace-existing-checks=true&ns=team-a&partition=p1");
  assert.equal(new Headers(write!.init.headers).get("content-type"), "application/json");
  assert.equal(write!.init.body, '{"Name":"x"}');
  assert.equal(write!.init.method, "PUT");
  assert.ok(read!.init.signal instanceof AbortSignal, "every request carries a signal");
});

Deno.test("ConsulClient calls an injected fetch unbound", async () => {
  let receiver: unknown = "not called";
  const client = new ConsulClient({
    fetch: function (this: unknown) {
      receiver = this;
      return Promise.resolve(health([]));
    },
  });
  await client.healthService("api");
  assert.equal(receiver, undefined);
});

Deno.test("ConsulClient.healthService returns checked entries and the index headers", async () => {
  const consul = new FakeConsul();
  consul.put(api(1, { tags: ["a"], meta: { v: "1" } }));
  const client = new ConsulClient({ fetch: consul.fetch });
  const result = await client.healthService("api");
  assert.equal(result.index, 11);
  assert.equal(result.knownLeader, true);
  assert.equal(result.lastContact, 0);
  assert.equal(result.entries.length, 1);
  assert.deepStrictEqual(result.entries[0]!.Service.Tags, ["a"]);
  assert.deepStrictEqual(result.entries[0]!.Service.Meta, { v: "1" });
  const bare = await scripted(() => health([])).client.healthService("api");
  assert.deepStrictEqual([bare.knownLeader, bare.lastContact], [undefined, undefined]);
});

Deno.test("ConsulClient names the malformed field of a health answer", async (t) => {
  const node = { Address: "10.0.0.1" };
  const service = { ID: "a", Service: "a", Address: "", Port: 80, Tags: null, Meta: null };
  const cases: [string, unknown, RegExp][] = [
    ["not JSON", "[{", /not JSON: "\[\{"/],
    ["not an array", { a: 1 }, /the health answer = \{"a":1\}, expected an array/],
    ["an entry that is not an object", [3], /\[0\] = 3, expected an object/],
    ["no node", [{ Service: service }], /\[0\]\.Node = undefined, expected an object/],
    [
      "a numeric node address",
      [{ Node: { Address: 1 }, Service: service }],
      /\[0\]\.Node\.Address = 1, expected a string/,
    ],
    [
      "a string port",
      [{ Node: node, Service: { ...service, Port: "80" } }],
      /\[0\]\.Service\.Port = "80", expected an integer from 0 to 65535/,
    ],
    ["a port too large", [{ Node: node, Service: { ...service, Port: 70000 } }], /Port = 70000/],
    [
      "tags that are not strings",
      [{ Node: node, Service: { ...service, Tags: [1] } }],
      /Service\.Tags = \[1\], expected an array of strings/,
    ],
    [
      "meta that is not strings",
      [{ Node: node, Service: { ...service, Meta: { a: 1 } } }],
      /Service\.Meta = \{"a":1\}/,
    ],
    [
      "negative weights",
      [{ Node: node, Service: { ...service, Weights: { Passing: -1, Warning: 1 } } }],
      /Weights\.Passing = -1/,
    ],
    [
      "checks that are not an array",
      [{ Node: node, Service: service, Checks: {} }],
      /\[0\]\.Checks = \{\}, expected an array/,
    ],
    [
      "a check without status",
      [{ Node: node, Service: service, Checks: [{}] }],
      /\[0\]\.Checks\[0\]\.Status = undefined/,
    ],
    [
      "a datacenter that is not a string",
      [{ Node: { ...node, Datacenter: 5 }, Service: service }],
      /Node\.Datacenter = 5/,
    ],
  ];
  for (const [what, body, message] of cases) {
    await t.step(what, async () => {
      const { client } = scripted(() => health(body));
      const error = await client.healthService("api").catch((e) => e);
      assert.ok(error instanceof MalformedResponseError, String(error));
      assert.match(error.message, message);
    });
  }
  await t.step("a missing or bad X-Consul-Index", async () => {
    for (const header of [undefined, "abc", "-1", "1.5", "99999999999999999"]) {
      const { client } = scripted(() => health([], header === undefined ? {} : { "x-consul-index": header }));
      const error = await client.healthService("api").catch((e) => e);
      assert.ok(error instanceof MalformedResponseError, `${header}: ${error}`);
      assert.match(error.message, /X-Consul-Index .*expected an integer/);
    }
  });
  await t.step("missing optional fields are filled in", async () => {
    const { client } = scripted(() => health([{ Node: node, Service: { ID: "a", Service: "a", Port: 80 } }]));
    const { entries } = await client.healthService("api");
    assert.deepStrictEqual(entries[0]!.Service, {
      ID: "a",
      Service: "a",
      Port: 80,
      Address: "",
      Tags: null,
      Meta: null,
    });
    assert.deepStrictEqual(entries[0]!.Checks, []);
  });
});

Deno.test("ConsulClient turns HTTP failures into typed errors", async () => {
  const status = (code: number, body: string) => scripted(() => new Response(body, { status: code })).client;
  const unavailable = await status(500, "rpc error: No cluster leader").healthService("api").catch((e) => e);
  assert.ok(unavailable instanceof RegistryUnavailableError);
  assert.equal(
    unavailable.message,
    "Consul at http://127.0.0.1:8500 failed GET /v1/health/service/api: HTTP 500",
  );
  assert.ok(unavailable.cause instanceof ConsulHttpError);
  assert.equal(unavailable.cause.status, 500);
  assert.equal(unavailable.cause.body, "rpc error: No cluster leader");
  const limited = await status(429, "slow down").healthService("api").catch((e) => e);
  assert.ok(limited instanceof RegistryUnavailableError);
  const denied = await status(403, "Permission denied").healthService("api").catch((e) => e);
  assert.ok(denied instanceof ConsulHttpError);
  assert.equal(denied.code, "ERR_DISCOVERY");
  assert.equal(
    denied.message,
    'Consul answered GET /v1/health/service/api with HTTP 403: "Permission denied"',
  );
  const refused = await status(400, "Invalid service address").registerService({}).catch((e) => e);
  assert.ok(refused instanceof ConsulHttpError);
  assert.equal(refused.code, "ERR_REGISTRATION");
  const network = await new ConsulClient({ fetch: () => Promise.reject(new TypeError("connection refused")) })
    .healthService("api").catch((e) => e);
  assert.ok(network instanceof RegistryUnavailableError);
  assert.match(
    network.message,
    /Sending GET \/v1\/health\/service\/api to Consul at http:\/\/127\.0\.0\.1:8500 failed: TypeError: connection refused/,
  );
  assert.ok(network.cause instanceof TypeError);
});

Deno.test("ConsulClient caps the response body at maxResponseBytes, declared or streamed", async () => {
  const consul = new FakeConsul();
  const client = new ConsulClient({ fetch: consul.fetch });
  consul.healthFaults.push("hugeDeclared", "huge");
  const declared = await client.healthService("api").catch((e) => e);
  assert.ok(declared instanceof MalformedResponseError);
  assert.match(declared.message, /is 50000000 bytes, over the 16777216-byte limit/);
  // 20 MB streamed without a length: reading stops at the default 16 MiB cap.
  const streamed = await client.healthService("api").catch((e) => e);
  assert.ok(streamed instanceof MalformedResponseError);
  assert.match(streamed.message, /is larger, over the 16777216-byte limit/);
  assert.equal(consul.openBodies, 0);
  const small = scripted(() => health("[]     "), { maxResponseBytes: 4 }).client;
  assert.match(String(await small.healthService("api").catch((e) => e)), /over the 4-byte limit/);
});

Deno.test("ConsulClient rejects a body that is not UTF-8", async () => {
  const { client } = scripted(() =>
    new Response(new Uint8Array([0x5b, 0xff, 0x5d]), { headers: { "x-consul-index": "1" } })
  );
  const error = await client.healthService("api").catch((e) => e);
  assert.ok(error instanceof MalformedResponseError);
  assert.match(error.message, /is not UTF-8/);
});

Deno.test("ConsulClient times out a request at its timeout, and a blocking one at wait*17/16 + timeout", async () => {
  const clock = fakeTime(0);
  try {
    const consul = new FakeConsul();
    const client = new ConsulClient({ fetch: consul.fetch, timeout: 2_000 });
    consul.healthFaults.push("stall", "stall", "stallBody");
    const settled: string[] = [];
    const note = (what: string) => (e: unknown) =>
      void settled.push(`${what}@${Date.now()}:${(e as Error).name}`);
    client.healthService("api").catch(note("plain"));
    client.healthService("api", { index: 3, wait: 32_000 }).catch(note("blocking"));
    client.healthService("api").catch(note("body"));
    await clock.tickAsync(1_999);
    assert.deepStrictEqual(settled, []);
    await clock.tickAsync(1);
    assert.deepStrictEqual(settled.sort(), [
      "body@2000:RegistryUnavailableError",
      "plain@2000:RegistryUnavailableError",
    ]);
    await clock.tickAsync(35_999 - 2_000);
    assert.equal(settled.length, 2);
    await clock.tickAsync(1);
    assert.deepStrictEqual(settled.at(-1), "blocking@36000:RegistryUnavailableError");
    assert.equal(clock.countTimers(), 0);
    assert.equal(consul.openBodies, 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("ConsulClient rejects with the caller's reason when the caller aborts", async () => {
  const consul = new FakeConsul();
  const client = new ConsulClient({ fetch: consul.fetch });
  consul.healthFaults.push("stall");
  const controller = new AbortController();
  const pending = client.healthService("api", { signal: controller.signal }).catch((e) => e);
  const reason = new Error("shutting down");
  controller.abort(reason);
  assert.equal(await pending, reason);
  const early = await client.passCheck("c", { signal: AbortSignal.abort(reason) }).catch((e) => e);
  assert.equal(early, reason);
});

Deno.test("ConsulClient agent calls: register, pass, read and deregister a service", async () => {
  const consul = new FakeConsul();
  const client = new ConsulClient({ fetch: consul.fetch });
  await client.registerService({
    ID: "a-1",
    Name: "a",
    Port: 80,
    Checks: [{ CheckID: "service:a-1", TTL: "10s" }],
  });
  assert.equal(consul.services.get("a-1")?.checks[0]?.status, "critical");
  await client.passCheck("service:a-1", { note: "all good" });
  assert.equal(consul.services.get("a-1")?.checks[0]?.status, "passing");
  const pass = consul.requests.at(-1)!;
  assert.equal(pass.url.pathname, "/v1/agent/check/pass/service:a-1");
  assert.equal(pass.url.search, "?note=all+good");
  assert.deepStrictEqual(await client.agentService("a-1"), { ID: "a-1", Service: "a", Port: 80 });
  assert.equal(await client.deregisterService("a-1"), true);
  assert.equal(await client.agentService("a-1"), undefined);
  // An agent that does not know the service: not an error, but reported.
  assert.equal(await client.deregisterService("a-1"), false);
  const lost = await client.passCheck("service:a-1").catch((e) => e);
  assert.ok(lost instanceof ConsulHttpError);
  assert.equal(lost.status, 404);
  assert.equal(consul.openBodies, 0);
});

Deno.test("ConsulClient.agentService rejects an answer that is not a JSON object", async () => {
  for (const body of ["[]", "nope", "null"]) {
    const { client } = scripted(() => new Response(body));
    const error = await client.agentService("a").catch((e) => e);
    assert.ok(error instanceof MalformedResponseError, `${body}: ${error}`);
  }
});

Deno.test("ConsulClient validates call arguments", async () => {
  const { client } = scripted(() => health([]));
  await assert.rejects(client.healthService(""), /service must be a non-empty string/);
  await assert.rejects(
    client.healthService("a", { index: -1 }),
    /options.index must be an integer >= 0, got -1/,
  );
  await assert.rejects(client.healthService("a", { wait: 700_000 }), /at most 600000/);
  await assert.rejects(
    client.healthService("a", { signal: "x" as never }),
    /options.signal must be an AbortSignal/,
  );
  await assert.rejects(client.registerService(null as never), /definition must be an object, got null/);
  await assert.rejects(client.deregisterService(""), /serviceId must be a non-empty string/);
  await assert.rejects(client.passCheck(""), /checkId must be a non-empty string/);
  await assert.rejects(client.agentService(""), /serviceId must be a non-empty string/);
});

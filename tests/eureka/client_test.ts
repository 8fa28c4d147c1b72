// EurekaClient against the fake server: options, headers and auth, the JSON quirks, 404 semantics,
// error classes, the size cap and the registration calls. Failover and timeouts: client_failover_test.ts.
import { assert } from "../_deps.ts";
import { FakeEureka, inst } from "../_fakes/eureka.ts";
import { EurekaClient } from "../../src/eureka/client.ts";
import { MalformedResponseError, RegistryRejectedError, RegistryUnavailableError } from "../../src/errors.ts";
import { SERVER } from "./_harness.ts";

function client(fake: FakeEureka, extra: Record<string, unknown> = {}): EurekaClient {
  return new EurekaClient({ urls: SERVER, fetch: fake.fetch, ...extra });
}

Deno.test("EurekaClient validates its options eagerly, quoting the bad value", () => {
  const cases: [unknown, RegExp, ErrorConstructor][] = [
    [undefined, /options must be an object with urls, got undefined/, TypeError],
    [{ urls: [] }, /options.urls must be a URL or a non-empty array of URLs/, TypeError],
    [{ urls: "nope" }, /options.urls\[0\] is not a URL: "nope"/, TypeError],
    [
      { urls: [SERVER, "http://us%zzer:pw@x/eureka"] },
      /^options\.urls\[1\] has a bad %-escape in its credentials, got "http:\/\/us%zzer:\*\*\*@x\/eureka"$/,
      TypeError,
    ],
    [
      { urls: "http://user:secret%@x/eureka" },
      /^options\.urls\[0\] has a bad %-escape in its credentials, got "http:\/\/user:\*\*\*@x\/eureka"$/,
      TypeError,
    ],
    [
      { urls: ["ftp://x/eureka"] },
      /options.urls\[0\] must be an http: or https: URL, got "ftp:\/\/x\/eureka"/,
      TypeError,
    ],
    [{ urls: ["http://x/eureka?a=1"] }, /must not have a query or fragment/, TypeError],
    [{ urls: SERVER, username: "u" }, /username and options.password go together/, TypeError],
    [
      { urls: SERVER, username: "", password: "p" },
      /options.username must be a non-empty string, got ""/,
      TypeError,
    ],
    [{ urls: SERVER, timeout: 0 }, /options.timeout must be a finite number >= 1, got 0/, RangeError],
    [
      { urls: SERVER, maxResponseBytes: 10 },
      /options.maxResponseBytes must be an integer >= 64, got 10/,
      RangeError,
    ],
    [{ urls: SERVER, fetch: "fetch" }, /options.fetch must be a function, got "fetch"/, TypeError],
  ];
  for (const [options, message, type] of cases) {
    assert.throws(
      () => new EurekaClient(options as never),
      (e: Error) => e instanceof type && message.test(e.message),
    );
  }
});

Deno.test("EurekaClient keeps the base path (Spring and Netflix) and drops credentials and trailing slashes", async () => {
  const fake = new FakeEureka("/eureka/v2");
  fake.put(inst(1));
  const c = new EurekaClient({
    urls: ["http://u:p@a.test:8080/eureka/v2/", "https://b.test/eureka"],
    fetch: fake.fetch,
  });
  assert.deepStrictEqual(c.urls, ["http://a.test:8080/eureka/v2", "https://b.test/eureka"]);
  const app = await c.getApplication("users");
  assert.equal(app?.instances.length, 1);
  assert.equal(fake.requests[0]!.path, "/apps/users");
  assert.equal(fake.requests[0]!.server, "http://a.test:8080");
});

Deno.test("EurekaClient asks for JSON and sends basic auth from the URL or the options", async () => {
  const fake = new FakeEureka();
  await new EurekaClient({ urls: "http://j%C3%B6rg:p%40ss@a.test:8761/eureka", fetch: fake.fetch })
    .getApplications();
  await client(fake, { username: "svc", password: "secret" }).getApplications();
  await client(fake).register("users", { instanceId: "x" }).catch(() => {});
  const [fromUrl, fromOptions, anonymous] = fake.requests;
  assert.equal(fromUrl!.headers.get("accept"), "application/json");
  const utf8 = String.fromCharCode(...new TextEncoder().encode("jörg:p@ss"));
  assert.equal(fromUrl!.headers.get("authorization"), `Basic ${btoa(utf8)}`);
  assert.equal(fromOptions!.headers.get("authorization"), `Basic ${btoa("svc:secret")}`);
  assert.equal(anonymous!.headers.get("authorization"), null);
  assert.equal(anonymous!.headers.get("content-type"), "application/json");
  assert.equal(anonymous!.headers.get("accept"), "application/json");
});

Deno.test("EurekaClient reads one application whether instances come as an array or a single object", async () => {
  for (const lists of ["array", "single"] as const) {
    const fake = new FakeEureka();
    fake.shape.lists = lists;
    fake.put(inst(1, { metadata: { zone: "a" } }));
    const one = await client(fake).getApplication("users");
    assert.equal(one?.name, "USERS");
    assert.deepStrictEqual(one?.instances.map((i) => [i.instanceId, i.ipAddr, i.port, i.metadata]), [
      ["users-1", "10.0.0.1", 8080, { zone: "a" }],
    ]);
    fake.put(inst(2));
    const two = await client(fake).getApplication("users");
    assert.deepStrictEqual(two?.instances.map((i) => i.instanceId), ["users-1", "users-2"], lists);
  }
});

Deno.test("EurekaClient reads ports as numbers, strings and {$} objects, with @enabled as a string or boolean", async () => {
  const shapes = [
    { port: "object", enabled: "string" },
    { port: "object", enabled: "boolean" },
    { port: "number", enabled: "string" },
    { port: "string", enabled: "string" },
  ] as const;
  for (const shape of shapes) {
    const fake = new FakeEureka();
    fake.shape = { lists: "array", ...shape };
    fake.put(inst(1, { port: 8080, securePort: 8443, securePortEnabled: true, portEnabled: false }));
    const [i] = (await client(fake).getApplication("users"))!.instances;
    assert.equal(i!.port, 8080, JSON.stringify(shape));
    assert.equal(i!.securePort, 8443);
    // A bare port has no @enabled: the plain one counts as enabled, the secure one as disabled.
    const bare = shape.port !== "object";
    assert.equal(i!.portEnabled, bare, JSON.stringify(shape));
    assert.equal(i!.securePortEnabled, !bare, JSON.stringify(shape));
  }
});

Deno.test("EurekaClient tolerates missing and odd fields the way Eureka does", async () => {
  const fake = new FakeEureka();
  fake.script(
    "GET /apps/USERS",
    Response.json({
      application: {
        name: "users",
        instance: [
          {
            hostName: "h1",
            port: { $: "8080" },
            status: "SLEEPING",
            metadata: { n: 5, b: true, o: {}, "@class": "x" },
          },
          {
            instanceId: "",
            hostName: "h2",
            dataCenterInfo: {
              name: "Amazon",
              metadata: { "instance-id": "i-123", "availability-zone": "z1" },
            },
            port: { $: 70000 },
            overriddenstatus: "OUT_OF_SERVICE",
            lastDirtyTimestamp: "1700000000000",
          },
          {},
        ],
      },
    }),
  );
  const app = (await client(fake).getApplication("USERS"))!;
  const [a, b, c] = app.instances;
  assert.deepStrictEqual(
    [a!.instanceId, a!.app, a!.status, a!.port, a!.ipAddr, a!.metadata, a!.vipAddress, a!.actionType],
    ["h1", "USERS", "UNKNOWN", 8080, "", { n: "5", b: "true" }, undefined, undefined],
  );
  assert.deepStrictEqual(
    [
      b!.instanceId,
      b!.port,
      b!.overriddenStatus,
      b!.dataCenter.metadata["availability-zone"],
      b!.lastDirtyTimestamp,
    ],
    ["i-123", undefined, "OUT_OF_SERVICE", "z1", 1700000000000],
  );
  assert.deepStrictEqual([c!.instanceId, c!.hostName, c!.status, c!.port, c!.portEnabled], [
    "",
    "",
    "UNKNOWN",
    undefined,
    true,
  ]);
});

Deno.test("EurekaClient answers undefined for an application or instance the server does not know", async () => {
  const fake = new FakeEureka();
  fake.put(inst(1));
  const c = client(fake);
  assert.equal(await c.getApplication("orders"), undefined);
  assert.equal(await c.getInstance("users", "nope"), undefined);
  const found = await c.getInstance("users", "users-1");
  assert.equal(found?.ipAddr, "10.0.0.1");
  assert.equal(found?.app, "USERS");
});

Deno.test("EurekaClient reads the whole registry and the delta with their hash codes", async () => {
  const fake = new FakeEureka();
  const empty = await client(fake).getApplications();
  assert.deepStrictEqual([empty.hashCode, empty.applications], ["", []]);
  fake.put(inst(1));
  fake.put(inst(2, { status: "DOWN" }));
  fake.put({ app: "orders", instanceId: "o-1", ipAddr: "10.0.1.1" });
  fake.shape.lists = "single";
  const full = await client(fake).getApplications();
  assert.equal(full.hashCode, "DOWN_1_UP_2_");
  assert.equal(full.versionsDelta, "3");
  assert.deepStrictEqual(full.applications.map((a) => [a.name, a.instances.length]), [["USERS", 2], [
    "ORDERS",
    1,
  ]]);
  fake.remove("orders", "o-1");
  const delta = await client(fake).getDelta();
  assert.equal(delta.hashCode, "DOWN_1_UP_1_");
  const actions = delta.applications.flatMap((a) =>
    a.instances.map((i) => `${i.actionType} ${i.instanceId}`)
  );
  assert.deepStrictEqual(actions, ["ADDED users-1", "ADDED users-2", "DELETED o-1"]);
  // A registry answer without an application list is an empty registry.
  fake.script("GET /apps", Response.json({ applications: { apps__hashcode: "" } }));
  assert.deepStrictEqual((await client(fake).getApplications()).applications, []);
});

Deno.test("EurekaClient classifies failures: 5xx unavailable, 4xx rejected, bad JSON malformed", async () => {
  const fake = new FakeEureka();
  const c = client(fake);
  fake.script("GET /apps", "http500", "http400", "garbage", "wrongShape");
  await assert.rejects(
    c.getApplications(),
    (e: Error) =>
      e instanceof RegistryUnavailableError &&
      /answered 500 to GET \/apps: Internal Server Error/.test(e.message),
  );
  await assert.rejects(
    c.getApplications(),
    (e: Error) =>
      e instanceof RegistryRejectedError && e.status === 400 && /refused GET \/apps with 400/.test(e.message),
  );
  await assert.rejects(
    c.getApplications(),
    (e: Error) => e instanceof MalformedResponseError && /invalid JSON: "<\?xml/.test(e.message),
  );
  await assert.rejects(
    c.getApplications(),
    (e: Error) => e instanceof MalformedResponseError && /expected \{"applications"/.test(e.message),
  );
  fake.script("GET /apps/USERS", Response.json({ application: [] }));
  await assert.rejects(c.getApplication("USERS"), MalformedResponseError);
  fake.script("GET /apps/USERS", Response.json({ application: { name: "USERS", instance: [7] } }));
  await assert.rejects(c.getApplication("USERS"), /application.instance\[0\] as 7, expected an object/);
  fake.script("GET /apps", Response.json({ applications: { application: [{ instance: [] }] } }));
  await assert.rejects(c.getApplications(), /application\[0\] without a name/);
  fake.script("GET /apps/USERS", new Response("nope", { status: 403 }));
  await assert.rejects(
    c.getApplication("USERS"),
    (e: Error) => e instanceof RegistryRejectedError && e.status === 403 && e.detail === "nope",
  );
});

Deno.test("EurekaClient refuses an answer over the size cap, declared or streamed", async () => {
  const fake = new FakeEureka();
  for (let n = 1; n <= 5; n++) fake.put(inst(n));
  const c = client(fake, { maxResponseBytes: 1000 });
  await assert.rejects(
    c.getApplications(),
    (e: Error) => e instanceof MalformedResponseError && /exceeds 1000 bytes/.test(e.message),
  );
  const streamed = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(600).fill(32));
    },
  });
  fake.script("GET /apps", new Response(streamed));
  await assert.rejects(c.getApplications(), MalformedResponseError);
});

Deno.test("EurekaClient sends the registration calls with the right methods, paths and answers", async () => {
  const fake = new FakeEureka();
  fake.put({ app: "users", instanceId: "h:users:80", ipAddr: "10.0.0.1" });
  const c = client(fake);
  assert.equal(await c.renew("users", "h:users:80"), true);
  assert.equal(await c.renew("users", "gone"), false);
  await c.setStatus("users", "h:users:80", "OUT_OF_SERVICE");
  assert.equal(fake.get("users", "h:users:80")?.status, "OUT_OF_SERVICE");
  await c.removeStatusOverride("users", "h:users:80");
  assert.equal(fake.get("users", "h:users:80")?.status, "UP");
  await c.updateMetadata("users", "h:users:80", { "k 1": "a&b", zone: "z" });
  await c.updateMetadata("users", "h:users:80", {});
  assert.deepStrictEqual(fake.get("users", "h:users:80")?.metadata, { "k 1": "a&b", zone: "z" });
  await assert.rejects(
    c.setStatus("users", "gone", "DOWN"),
    (e: Error) => e instanceof RegistryRejectedError && e.status === 404,
  );
  assert.equal(await c.deregister("users", "h:users:80"), true);
  assert.equal(await c.deregister("users", "h:users:80"), false);
  assert.deepStrictEqual(fake.requests.map((r) => `${r.route}${r.query.size ? `?${r.query}` : ""}`), [
    "PUT /apps/users/h:users:80",
    "PUT /apps/users/gone",
    "PUT /apps/users/h:users:80/status?value=OUT_OF_SERVICE",
    "DELETE /apps/users/h:users:80/status?value=UP",
    "PUT /apps/users/h:users:80/metadata?k+1=a%26b&zone=z",
    "PUT /apps/users/gone/status?value=DOWN",
    "DELETE /apps/users/h:users:80",
    "DELETE /apps/users/h:users:80",
  ]);
});

Deno.test("EurekaClient encodes path segments but keeps the colons of instance ids", async () => {
  const fake = new FakeEureka();
  await client(fake).renew("my app", "host:a/b:80");
  assert.equal(fake.requests[0]!.path, "/apps/my%20app/host:a%2Fb:80");
});

Deno.test("EurekaClient validates call arguments before sending anything", async () => {
  const fake = new FakeEureka();
  const c = client(fake);
  await assert.rejects(c.getApplication(""), /app must be a non-empty string, got ""/);
  await assert.rejects(c.renew("users", 5 as never), /id must be a non-empty string, got 5/);
  await assert.rejects(
    c.setStatus("users", "a", "BUSY" as never),
    /status must be one of UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN, got "BUSY"/,
  );
  await assert.rejects(
    c.updateMetadata("users", "a", { n: 1 } as never),
    /metadata\["n"\] must be a string, got 1/,
  );
  await assert.rejects(c.register("users", null as never), /instance must be an object, got null/);
  await assert.rejects(c.getApplications({ signal: "x" } as never), /options.signal must be an AbortSignal/);
  await assert.rejects(c.getApplications(null as never), /options must be an object, got null/);
  assert.equal(fake.requests.length, 0);
});

Deno.test("EurekaClient registers with the instance wrapped in {instance} and surfaces a 400", async () => {
  const fake = new FakeEureka();
  const c = client(fake);
  await assert.rejects(
    c.register("users", { instanceId: "x" }),
    (e: Error) =>
      e instanceof RegistryRejectedError && e.status === 400 && e.detail === "Missing or malformed instance",
  );
  assert.deepStrictEqual(fake.requests[0]!.body, { instance: { instanceId: "x" } });
  assert.equal(fake.requests[0]!.route, "POST /apps/users");
});

Deno.test("EurekaClient tells a wrong base path from an unknown application by asking for /apps/delta once", async () => {
  const fake = new FakeEureka("/eureka/v2");
  const wrong = new EurekaClient({ urls: "http://a.test:8761/eureka", fetch: fake.fetch });
  await assert.rejects(
    wrong.getApplication("users"),
    (e: Error) =>
      e instanceof RegistryRejectedError && e.status === 404 &&
      /answered 404 to GET \/apps\/delta: no Eureka API there; check the base path/.test(e.message),
  );
  await assert.rejects(wrong.getInstance("users", "a"), RegistryRejectedError);
  const right = new EurekaClient({ urls: "http://a.test:8761/eureka/v2", fetch: fake.fetch });
  assert.equal(await right.getApplication("users"), undefined);
  assert.equal(await right.getApplication("users"), undefined);
  assert.equal(await right.getInstance("users", "a"), undefined);
  assert.deepStrictEqual(fake.requests.map((r) => r.url), [
    "http://a.test:8761/eureka/apps/users",
    "http://a.test:8761/eureka/apps/delta",
    "http://a.test:8761/eureka/apps/users/a",
    "http://a.test:8761/eureka/apps/delta",
    "http://a.test:8761/eureka/v2/apps/users",
    "http://a.test:8761/eureka/v2/apps/delta",
    "http://a.test:8761/eureka/v2/apps/users",
    "http://a.test:8761/eureka/v2/apps/users/a",
  ]);
});

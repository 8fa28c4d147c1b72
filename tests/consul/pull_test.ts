// consulLookup: the result's shape, the TTL from Cache-Control and Age, reads through the agent's
// cache, aborts and errors; and the client seams it needs (the answer's headers, `?cached`).
import { assert, fakeTime } from "../_deps.ts";
import { ConsulClient } from "../../src/consul/client.ts";
import { ConsulHttpError } from "../../src/consul/errors.ts";
import { lookupHealthService } from "../../src/consul/health.ts";
import { consulLookup, freshness } from "../../src/consul/pull.ts";
import { MalformedResponseError, RegistryUnavailableError } from "../../src/errors.ts";
import { PullInstancer } from "../../src/pull_instancer.ts";

const ENTRY = {
  Node: { Address: "10.0.0.1", Datacenter: "dc1" },
  Service: { ID: "api-1", Service: "api", Address: "", Port: 8080, Tags: ["v2"], Meta: { v: "2" } },
  Checks: [{ Status: "passing" }],
};

/** A client whose fetch answers with `respond` and records every request. */
function scripted(respond: (url: URL, init: RequestInit) => Response | Promise<Response>) {
  const seen: { url: URL; headers: Headers; signal: AbortSignal | undefined }[] = [];
  const client = new ConsulClient({
    token: "s3cret-token",
    fetch: (input, init = {}) => {
      const url = new URL(String(input));
      seen.push({ url, headers: new Headers(init.headers), signal: init.signal ?? undefined });
      return Promise.resolve(respond(url, init));
    },
  });
  return { client, seen };
}

const answer = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), {
    headers: { "x-consul-index": "7", ...headers },
  });

const signal = () => new AbortController().signal;

Deno.test("consulLookup reads once without blocking, with the instancer's selection and details", async () => {
  const { client, seen } = scripted(() => answer([ENTRY]));
  const lookup = consulLookup(client, "api", {
    tags: ["v2"],
    filter: 'Service.Meta.v == "2"',
    consistency: "stale",
  });
  const result = await lookup({ signal: signal() });
  assert.deepStrictEqual(result, {
    instances: [{
      instance: "10.0.0.1:8080",
      id: "api-1",
      tags: ["v2"],
      meta: { v: "2" },
      zone: "dc1",
      status: "passing",
      weight: 1,
    }],
    ttl: undefined,
  });
  assert.equal(seen.length, 1);
  const { url, headers } = seen[0]!;
  assert.equal(url.pathname, "/v1/health/service/api");
  assert.equal(url.searchParams.get("passing"), "1");
  assert.equal(url.searchParams.get("filter"), '"v2" in Service.Tags and (Service.Meta.v == "2")');
  assert.ok(url.searchParams.has("stale"));
  assert.ok(
    !url.searchParams.has("index") && !url.searchParams.has("wait") && !url.searchParams.has("cached"),
  );
  assert.equal(headers.get("cache-control"), null);
});

Deno.test("consulLookup passes passingOnly: false on, and skips entries without a port", async () => {
  const { client, seen } = scripted(() =>
    answer([ENTRY, { ...ENTRY, Service: { ...ENTRY.Service, ID: "api-0", Port: 0 } }])
  );
  const warnings: string[] = [];
  const logger = { warn: (m: string) => warnings.push(m), info: () => {}, error: () => {}, debug: () => {} };
  const result = await consulLookup(client, "api", { passingOnly: false, logger })({ signal: signal() });
  assert.equal([...result.instances].length, 1);
  assert.equal(seen[0]!.url.searchParams.has("passing"), false);
  assert.deepStrictEqual(warnings, ["Consul entry skipped: no port"]);
});

Deno.test("freshness follows RFC 9111: max-age minus Age, no-cache and no-store are 0, bad values ignored", () => {
  const cases: [Record<string, string>, number | undefined, number | undefined][] = [
    [{}, undefined, undefined],
    [{ "cache-control": "max-age=30" }, undefined, 30_000],
    [{ "cache-control": "public, max-age=30", age: "12" }, undefined, 18_000],
    [{ "cache-control": 'max-age="30"', age: "5" }, undefined, 25_000],
    [{ "cache-control": "MAX-AGE = 30" }, undefined, 30_000],
    [{ "cache-control": "max-age=30", age: "45" }, undefined, 0],
    [{ "cache-control": "max-age=30, max-age=5" }, undefined, 30_000], // the first occurrence
    [{ "cache-control": "max-age=0" }, undefined, 0],
    [{ "cache-control": "no-cache" }, undefined, 0],
    [{ "cache-control": "max-age=60, no-store" }, undefined, 0],
    [{ "cache-control": "max-age=soon" }, undefined, undefined],
    [{ "cache-control": "max-age=-5" }, undefined, undefined],
    [{ "cache-control": "s-maxage=30" }, undefined, undefined], // for shared caches, not this client
    [{ "cache-control": "max-age=30", age: "old" }, undefined, 30_000],
    // The agent's cache: the requested max-age minus the copy's Age.
    [{ age: "4", "x-cache": "HIT" }, 30_000, 26_000],
    [{ age: "0", "x-cache": "MISS" }, 1_500, 2_000], // sent rounded up to whole seconds
    [{ "x-cache": "MISS" }, 30_000, 30_000], // a miss carries no Age: fetched just now
    [{ "cache-control": "max-age=10", age: "4" }, 30_000, 6_000], // the answer's own header wins
  ];
  for (const [headers, requested, expected] of cases) {
    assert.equal(freshness(new Headers(headers), requested), expected, JSON.stringify([headers, requested]));
  }
});

Deno.test("consulLookup returns the TTL the answer's Cache-Control and Age give", async () => {
  const { client } = scripted(() => answer([ENTRY], { "cache-control": "max-age=60", age: "15" }));
  const result = await consulLookup(client, "api")({ signal: signal() });
  assert.equal(result.ttl, 45_000);
});

Deno.test("consulLookup reads through the agent's cache with max-age and stale-if-error", async () => {
  const { client, seen } = scripted(() => answer([ENTRY], { age: "3", "x-cache": "HIT" }));
  const lookup = consulLookup(client, "api", { cached: { maxAge: 20_000, staleIfError: 90_500 } });
  const result = await lookup({ signal: signal() });
  assert.equal(result.ttl, 17_000);
  assert.ok(seen[0]!.url.searchParams.has("cached"));
  assert.equal(seen[0]!.url.search, "?passing=1&cached");
  assert.equal(seen[0]!.headers.get("cache-control"), "max-age=20, stale-if-error=91");
  assert.equal(seen[0]!.headers.get("x-consul-token"), "s3cret-token");

  // `true`: the agent's defaults, no request header and no TTL of our own making.
  const plain = scripted(() => answer([ENTRY], { age: "3", "x-cache": "HIT" }));
  assert.equal(
    (await consulLookup(plain.client, "api", { cached: true })({ signal: signal() })).ttl,
    undefined,
  );
  assert.ok(plain.seen[0]!.url.searchParams.has("cached"));
  assert.equal(plain.seen[0]!.headers.get("cache-control"), null);
});

Deno.test("consulLookup checks its arguments when built, naming the bad value", () => {
  const { client } = scripted(() => answer([]));
  const bad: [() => unknown, RegExp][] = [
    [() => consulLookup({} as ConsulClient, "api"), /client must have a healthService\(\) method/],
    [() => consulLookup(client, ""), /service must be a non-empty string, got ""/],
    [() => consulLookup(client, "api", null as never), /options must be an object, got null/],
    [() => consulLookup(client, "api", { tags: [""] }), /options.tags must be an array of non-empty strings/],
    [
      () => consulLookup(client, "api", { passingOnly: "yes" as never }),
      /passingOnly must be a boolean, got "yes"/,
    ],
    [() => consulLookup(client, "api", { consistency: "strong" as never }), /got "strong"/],
    [
      () => consulLookup(client, "api", { cached: "yes" as never }),
      /options.cached must be a boolean or .*got "yes"/,
    ],
    [() => consulLookup(client, "api", { cached: { maxAge: -1 } }), /options.cached.maxAge must be .*got -1/],
    [
      () => consulLookup(client, "api", { cached: true, consistency: "consistent" }),
      /cached cannot be combined with consistency "consistent"/,
    ],
  ];
  for (const [build, message] of bad) assert.throws(build, message);
});

Deno.test("consulLookup honours its signal: before the request and while it is in flight", async () => {
  const { client, seen } = scripted((_url, init) =>
    new Promise<Response>((_resolve, reject) => {
      init.signal!.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    })
  );
  const lookup = consulLookup(client, "api");
  const before = new AbortController();
  before.abort(new Error("request gone"));
  await assert.rejects(lookup({ signal: before.signal }), /request gone/);
  assert.equal(seen.length, 0);

  const during = new AbortController();
  const pending = lookup({ signal: during.signal });
  await Promise.resolve();
  during.abort(new Error("client went away"));
  await assert.rejects(pending, /client went away/);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.signal?.aborted, true);
});

Deno.test("consulLookup turns bad answers into clear errors without the token", async () => {
  const cases: [Response, new (...args: never[]) => Error, RegExp][] = [
    [answer("<html>"), MalformedResponseError, /health answer that is not JSON: "<html>"/],
    [
      answer({ not: "a list" }),
      MalformedResponseError,
      /the health answer = \{"not":"a list"\}, expected an array/,
    ],
    [
      answer([{ ...ENTRY, Service: { ...ENTRY.Service, Port: "8080" } }]),
      MalformedResponseError,
      /\[0\]\.Service\.Port = "8080", expected an integer/,
    ],
    [new Response("[]"), MalformedResponseError, /X-Consul-Index \(missing\)/],
    [new Response("No cluster leader", { status: 500 }), RegistryUnavailableError, /HTTP 500/],
    [new Response("ACL not found", { status: 403 }), ConsulHttpError, /403/],
  ];
  for (const [response, type, message] of cases) {
    const { client } = scripted(() => response);
    const error = await consulLookup(client, "api")({ signal: signal() }).then(() => undefined, (e) => e);
    assert.ok(error instanceof type, `${type.name}: ${error}`);
    assert.match(error.message, message);
    assert.ok(!error.message.includes("s3cret-token"), error.message);
  }
});

Deno.test("lookupHealthService returns the answer's headers", async () => {
  const { client } = scripted(() => answer([ENTRY], { "x-cache": "HIT", age: "2" }));
  const result = await lookupHealthService(client, "api", { cached: { maxAge: 5_000 } });
  assert.equal(result.index, 7);
  assert.equal(result.headers.get("x-cache"), "HIT");
  assert.equal(result.headers.get("age"), "2");
});

Deno.test("a PullInstancer over consulLookup stays fresh for the TTL the answer gives, then asks again", async () => {
  const clock = fakeTime(0);
  try {
    let port = 8080;
    const { client, seen } = scripted(() =>
      answer([{ ...ENTRY, Service: { ...ENTRY.Service, Port: port } }], { "cache-control": "max-age=20" })
    );
    using instancer = new PullInstancer(consulLookup(client, "api"), { ttl: 5_000, staleWhileRevalidate: 0 });
    assert.equal((await instancer.refresh()).source, "refreshed");
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8080"]);
    port = 8081;
    await clock.tickAsync(19_999); // past the instancer's ttl, within the answer's
    assert.deepStrictEqual(await instancer.refresh(), { source: "fresh", lookups: 0, age: 19_999 });
    assert.equal(seen.length, 1);
    await clock.tickAsync(1);
    assert.equal((await instancer.refresh()).source, "refreshed");
    assert.deepStrictEqual(instancer.state()?.instances, ["10.0.0.1:8081"]);
    assert.equal(seen.length, 2);
  } finally {
    clock.uninstall();
  }
});

// Secrets stay out of errors: URL passwords in configuration errors, and tokens a server echoes
// back in an error body, whichever backend quotes them.
import { assert } from "./_deps.ts";
import { redact } from "../src/_redact.ts";
import { ConsulClient } from "../src/consul/client.ts";
import { ConsulHttpError } from "../src/consul/errors.ts";
import { EtcdClient } from "../src/etcd/client.ts";
import { EurekaClient } from "../src/eureka/client.ts";
import { describe, RegistryRejectedError, RegistryUnavailableError, RetryError } from "../src/errors.ts";

const SECRET = "s3cr3t-Zq9";

/** The error `fn` throws (synchronously or as a rejection); fails the test if it throws nothing. */
async function thrown(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  throw new Error("expected a throw");
}

/** Fails if the secret shows anywhere in the error's message or its string-valued fields. */
function assertNoSecret(error: Error): void {
  const shown = [error.message, ...Object.values(error).filter((v) => typeof v === "string")];
  for (const text of shown) assert.ok(!text.includes(SECRET), `secret leaked in ${JSON.stringify(text)}`);
}

Deno.test("redact hides URL passwords but keeps the user, host and path", () => {
  assert.equal(redact(`http://admin:${SECRET}@consul:8500/v1`), "http://admin:***@consul:8500/v1");
  assert.equal(redact(`see https://u:${SECRET}@a@b.example/eureka.`), "see https://u:***@b.example/eureka.");
  assert.equal(redact("http://token-only@host/"), "http://token-only@host/");
  assert.equal(redact("http://host:80/p?email=a@b.c"), "http://host:80/p?email=a@b.c");
  assert.equal(redact(`user:${SECRET}@consul:8500`), "user:***@consul:8500");
  assert.equal(redact(`got "user:${SECRET}@consul:8500"`), 'got "user:***@consul:8500"');
  assert.equal(redact("mail me@example.com"), "mail me@example.com");
});

Deno.test("redact hides secret parameters, headers and fields in every usual notation", () => {
  const cases: [string, string][] = [
    [`/v1/health?token=${SECRET}&stale`, "/v1/health?token=***&stale"],
    [`authorization=${SECRET} next`, "authorization=*** next"],
    [`X-Consul-Token: ${SECRET}\nnext`, "X-Consul-Token: ***\nnext"],
    [`Authorization: Bearer ${SECRET}`, "Authorization: ***"],
    [`map[Authorization:[${SECRET}] Content-Type:[json]]`, "map[Authorization:[***] Content-Type:[json]]"],
    [`{"name":"root","password":"${SECRET} x","ok":1}`, `{"name":"root","password":"***","ok":1}`],
    [`{"token":"${SECRET}`, `{"token":"***"`],
    [`{'password': '${SECRET}'}`, `{'password': '***'}`],
    ["tokens=5 a token was missing", "tokens=5 a token was missing"],
  ];
  for (const [text, expected] of cases) assert.equal(redact(text), expected);
});

Deno.test("describe redacts what it quotes, and so does a RetryError's message", () => {
  assert.equal(describe(new Error(`GET ?token=${SECRET} failed`)), "Error: GET ?token=*** failed");
  assert.equal(describe(`http://u:${SECRET}@h`), '"http://u:***@h"');
  assert.equal(describe({ password: SECRET }), '{"password":"***"}');
  assertNoSecret(new RetryError([new Error(`authorization=${SECRET}`)], new Error(`password=${SECRET}`)));
});

Deno.test("ConsulClient quotes an address with credentials without its password", async () => {
  const error = await thrown(() => new ConsulClient({ address: `http://user:${SECRET}@consul:8500` }));
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    'options.address must not carry credentials, a query or a fragment, got "http://user:***@consul:8500"',
  );
  const query = await thrown(() => new ConsulClient({ address: `http://consul:8500/?token=${SECRET}` }));
  assert.match(query.message, /got "http:\/\/consul:8500\/\?token=\*\*\*"$/);
  const bad = await thrown(() => new ConsulClient({ address: `http://user:${SECRET}@[zz` }));
  assert.match(bad.message, /host:port or an http\(s\) URL, got "http:\/\/user:\*\*\*@\[zz"$/);
  const bare = await thrown(() => new ConsulClient({ address: `user:${SECRET}@consul:8500` }));
  assert.match(
    bare.message,
    /must not carry credentials, a query or a fragment, got "user:\*\*\*@consul:8500"$/,
  );
});

Deno.test("ConsulClient does not quote back a token the agent echoes in its error body", async () => {
  for (const status of [403, 500]) {
    const client = new ConsulClient({
      token: SECRET,
      fetch: (_input, init) =>
        Promise.resolve(
          new Response(`rejected: X-Consul-Token: ${new Headers(init?.headers).get("x-consul-token")}`, {
            status,
          }),
        ),
    });
    const error = await thrown(() => client.healthService("web"));
    assert.ok(error instanceof ConsulHttpError || error instanceof RegistryUnavailableError);
    assertNoSecret(error);
    const http = error instanceof ConsulHttpError ? error : error.cause as ConsulHttpError;
    assert.ok(http instanceof ConsulHttpError);
    assertNoSecret(http);
    assert.match(http.message, /X-Consul-Token: \*\*\*/);
  }
});

Deno.test("EtcdClient refuses an endpoint with credentials instead of ignoring them, without quoting the password", async () => {
  const error = await thrown(() => new EtcdClient({ endpoints: [`http://root:${SECRET}@127.0.0.1:2379`] }));
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    "options.endpoints[0] must not carry credentials (use options.username and options.password), " +
      'got "http://root:***@127.0.0.1:2379"',
  );
  const user = await thrown(() => new EtcdClient({ endpoints: ["http://root@127.0.0.1:2379"] }));
  assert.ok(user instanceof TypeError);
  const bad = await thrown(() => new EtcdClient({ endpoints: [`root:${SECRET}@127.0.0.1:2379`] }));
  assert.ok(bad instanceof TypeError);
  assertNoSecret(bad);
});

Deno.test("EtcdClient does not quote back an auth token etcd echoes in its error body", async () => {
  for (const status of [400, 503]) {
    const client = new EtcdClient({
      endpoints: ["http://127.0.0.1:2379"],
      username: "root",
      password: "pw",
      fetch: (input, init) => {
        if (String(input).endsWith("/auth/authenticate")) {
          return Promise.resolve(Response.json({ token: SECRET }));
        }
        const echoed = `bad request authorization=${new Headers(init?.headers).get("authorization")}`;
        return Promise.resolve(Response.json({ error: echoed, message: echoed, code: 3 }, { status }));
      },
    });
    const error = await thrown(() => client.range("/services/"));
    assert.ok(error instanceof (status === 400 ? RegistryRejectedError : RegistryUnavailableError));
    assertNoSecret(error);
    assert.match(error.message, /authorization=\*\*\*/);
  }
});

Deno.test("EurekaClient quotes a bad server URL without its password", async () => {
  const error = await thrown(() => new EurekaClient({ urls: `http://eu:${SECRET}@eureka:8761/eureka?x=1` }));
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    'options.urls[0] must not have a query or fragment, got "http://eu:***@eureka:8761/eureka?x=1"',
  );
  const scheme = await thrown(() => new EurekaClient({ urls: `ftp://eu:${SECRET}@eureka/eureka` }));
  assertNoSecret(scheme);
});

Deno.test("EurekaClient does not quote back credentials the server echoes in its error body", async () => {
  for (const status of [401, 500]) {
    const client = new EurekaClient({
      urls: "http://eureka:8761/eureka",
      username: "eu",
      password: SECRET,
      fetch: (_input, init) => {
        const auth = new Headers(init?.headers).get("authorization");
        return Promise.resolve(
          new Response(`denied, Authorization: ${auth}; password=${SECRET}`, { status }),
        );
      },
    });
    const error = await thrown(() => client.getApplication("USERS"));
    assertNoSecret(error);
    assert.ok(!error.message.includes(btoa(`eu:${SECRET}`)), error.message);
  }
});

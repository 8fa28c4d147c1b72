// A metadata key named `__proto__` is an ordinary entry on every runtime, in every decoder: kept as
// an own key, never touching the prototype. Deno's `__proto__` setter keeps a string as an own key,
// Node's (and Bun's, and browsers') drops it; each test runs under both.
import { assert } from "./_deps.ts";
import { InstanceCache } from "../src/instance_cache.ts";
import { ConsulClient } from "../src/consul/client.ts";
import { lookupHealthService } from "../src/consul/health.ts";
import { EurekaClient } from "../src/eureka/client.ts";
import { EurekaRegistrar } from "../src/eureka/registrar.ts";
import { selection, toInstances } from "../src/eureka/_select.ts";
import type { InstanceDetails, InstancesEvent } from "../src/types.ts";

/** Runs `fn` with Object.prototype.__proto__ behaving as on Node 20: a non-object value is ignored. */
async function asOnNode<T>(fn: () => Promise<T>): Promise<T> {
  const original = Object.getOwnPropertyDescriptor(Object.prototype, "__proto__");
  assert.ok(original !== undefined);
  Object.defineProperty(Object.prototype, "__proto__", {
    configurable: true,
    enumerable: false,
    get(this: object) {
      return Object.getPrototypeOf(this);
    },
    set(this: object, proto: unknown) {
      if ((typeof proto === "object" && proto !== null) || typeof proto === "function" || proto === null) {
        Object.setPrototypeOf(this, proto as object | null);
      }
    },
  });
  try {
    return await fn();
  } finally {
    Object.defineProperty(Object.prototype, "__proto__", original);
  }
}

/** Runs `check` as Deno runs it, then as Node would. */
async function onEveryRuntime(check: () => Promise<void>): Promise<void> {
  await check();
  await asOnNode(check);
}

/** Asserts that `meta` holds exactly `expected` (pairs), `__proto__` as an own key, prototype untouched. */
function assertMeta(meta: Readonly<Record<string, string>> | undefined, expected: [string, string][]): void {
  assert.ok(meta !== undefined, "meta missing");
  assert.deepStrictEqual(Object.entries(meta), expected);
  assert.ok(Object.hasOwn(meta, "__proto__"), "__proto__ is not an own key");
  assert.equal(Object.getPrototypeOf(meta), Object.prototype);
  assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
}

const META_JSON = '{"__proto__":"x","polluted":"no","zone":"a"}';
const EXPECTED: [string, string][] = [["__proto__", "x"], ["polluted", "no"], ["zone", "a"]];

Deno.test("the asOnNode helper drops a __proto__ string as Node does", async () => {
  await asOnNode(() => {
    const record: Record<string, string> = {};
    record["__proto__"] = "x";
    assert.deepStrictEqual(Object.keys(record), []);
    return Promise.resolve();
  });
});

Deno.test("InstanceCache keeps a __proto__ meta key as an own entry on every runtime", async () => {
  await onEveryRuntime(async () => {
    const cache = new InstanceCache();
    try {
      const meta = JSON.parse(META_JSON) as Record<string, string>;
      cache.update({ instances: [{ instance: "10.0.0.1:80", meta }] });
      let event: InstancesEvent | undefined;
      for await (const e of cache) {
        event = e as InstancesEvent;
        break;
      }
      assertMeta(event?.details.get("10.0.0.1:80")?.meta, EXPECTED);
      // An identical update is recognised as no change.
      assert.equal(
        cache.update({ instances: [{ instance: "10.0.0.1:80", meta: JSON.parse(META_JSON) }] }),
        false,
      );
    } finally {
      cache.stop();
    }
  });
});

Deno.test("lookupHealthService keeps a __proto__ Service.Meta key as an own entry on every runtime", async () => {
  const body = `[{"Node":{"Node":"n1","Address":"10.0.0.1","Datacenter":"dc1"},` +
    `"Service":{"ID":"api-1","Service":"api","Address":"10.0.0.1","Port":8080,"Tags":[],` +
    `"Meta":${META_JSON}},"Checks":[]}]`;
  await onEveryRuntime(async () => {
    const client = new ConsulClient({
      fetch: () => Promise.resolve(new Response(body, { headers: { "x-consul-index": "5" } })),
    });
    const { instances } = await lookupHealthService(client, "api");
    const details = instances[0] as InstanceDetails & { instance: string };
    assert.equal(details.instance, "10.0.0.1:8080");
    assertMeta(details.meta, EXPECTED);
    const cache = new InstanceCache();
    try {
      cache.update({ instances });
      for await (const e of cache) {
        assertMeta((e as InstancesEvent).details.get("10.0.0.1:8080")?.meta, EXPECTED);
        break;
      }
    } finally {
      cache.stop();
    }
  });
});

Deno.test("EurekaClient keeps a __proto__ metadata key as an own entry on every runtime, and so does the instancer's selection", async () => {
  const body = `{"application":{"name":"USERS","instance":[{"instanceId":"users-1","app":"USERS",` +
    `"hostName":"h1","ipAddr":"10.0.0.1","status":"UP","port":{"$":8080,"@enabled":"true"},` +
    `"metadata":{"@class":"java.util.Collections$EmptyMap","__proto__":"x","polluted":"no","zone":"a"},` +
    `"dataCenterInfo":{"name":"Amazon","metadata":{"__proto__":"y","instance-id":"i-1"}}}]}}`;
  await onEveryRuntime(async () => {
    const client = new EurekaClient({
      urls: "http://eureka:8761/eureka",
      fetch: () => Promise.resolve(new Response(body, { headers: { "content-type": "application/json" } })),
    });
    const app = await client.getApplication("users");
    const instance = app?.instances[0];
    assert.ok(instance !== undefined);
    assertMeta(instance.metadata, EXPECTED);
    assertMeta(instance.dataCenter.metadata, [["__proto__", "y"], ["instance-id", "i-1"]]);
    const [published] = toInstances([instance], selection({}));
    const meta = (published as InstanceDetails).meta;
    assert.ok(meta !== undefined && Object.hasOwn(meta, "__proto__") && meta["__proto__"] === "x");
  });
});

Deno.test("EurekaRegistrar.setMetadata keeps a __proto__ key as an entry on every runtime", async () => {
  await onEveryRuntime(async () => {
    const bodies: unknown[] = [];
    const client = new EurekaClient({
      urls: "http://eureka:8761/eureka",
      fetch: (_input, init) => {
        if (init?.method === "POST") bodies.push(JSON.parse(String(init.body)));
        return Promise.resolve(new Response(null, { status: 204 }));
      },
    });
    const registrar = new EurekaRegistrar(client, { app: "users", ipAddr: "10.0.0.1", port: 8080 });
    try {
      await registrar.setMetadata(JSON.parse('{"__proto__":"x"}'));
      await registrar.register();
      const metadata = (bodies[0] as { instance: { metadata: Record<string, string> } }).instance.metadata;
      assert.ok(Object.hasOwn(metadata, "__proto__"), JSON.stringify(metadata));
    } finally {
      await registrar.deregister().catch(() => {});
      registrar.stop();
    }
  });
});

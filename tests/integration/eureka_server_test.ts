// Checks the real Eureka server (scripts/servers/eureka.sh: Spring Cloud Netflix, standalone, no
// self-preservation, eviction every second, no read-only response cache) that the Eureka backend's
// integration tests run against: the REST API shapes and the lease behaviour the instancer and the
// registrar rely on. Start it, then:
//   eval "$(bash scripts/servers/eureka.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env tests/integration/eureka_server_test.ts
// Every test registers under an application name unique to the run and deregisters in `finally`,
// and holds the server's shared lock, so that a test file restarting the server waits for it.
import { assert } from "../_deps.ts";
import { withEurekaLock } from "./_eureka_sd.ts";
import { serverTest } from "./_server.ts";

const VARIABLE = "SD_EUREKA_URL";
const REQUEST_TIMEOUT_MS = 10_000;
const RUN = crypto.randomUUID().slice(0, 8).toUpperCase();
let serial = 0;

/** An application name no other run or test uses (Eureka keeps names upper-case). */
function uniqueApp(topic: string): string {
  serial += 1;
  return `EDGEKIT-IT-${topic}-${RUN}-${serial}`;
}

interface Reply {
  status: number;
  contentType: string | null;
  body: string;
}

interface PortJson {
  $: number;
  "@enabled": string;
}

interface InstanceJson {
  instanceId: string;
  hostName: string;
  app: string;
  ipAddr: string;
  status: string;
  overriddenStatus: string;
  port: PortJson;
  securePort: PortJson;
  vipAddress: string;
  dataCenterInfo: { "@class": string; name: string };
  leaseInfo: {
    renewalIntervalInSecs: number;
    durationInSecs: number;
    registrationTimestamp: number;
    lastRenewalTimestamp: number;
    evictionTimestamp: number;
  };
  metadata: Record<string, string>;
  statusPageUrl: string;
  lastUpdatedTimestamp: string;
  lastDirtyTimestamp: string;
  actionType: string;
}

/** XML-to-JSON shapes: a list may come as one object or as an array. */
type OneOrMany<T> = T | T[];

interface ApplicationJson {
  name: string;
  instance: OneOrMany<InstanceJson>;
}

interface ApplicationsJson {
  applications: {
    versions__delta: string;
    apps__hashcode: string;
    application?: OneOrMany<ApplicationJson>;
  };
}

function list<T>(value: OneOrMany<T> | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** One request; JSON is asked for, the body is always read to the end and the wait is bounded. */
async function call(base: string, method: string, path: string, json?: unknown): Promise<Reply> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const headers: Record<string, string> = { accept: "application/json" };
    const init: RequestInit = { method, headers, signal: controller.signal };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      headers["content-type"] = "application/json";
    }
    const res = await fetch(`${base.replace(/\/+$/, "")}${path}`, init);
    const body = await res.text();
    return { status: res.status, contentType: res.headers.get("content-type"), body };
  } finally {
    clearTimeout(timer);
  }
}

async function expectStatus(
  base: string,
  status: number,
  method: string,
  path: string,
  json?: unknown,
): Promise<Reply> {
  const reply = await call(base, method, path, json);
  assert.equal(reply.status, status, `${method} ${path}: HTTP ${reply.status} ${reply.body}`);
  return reply;
}

async function getJson<T>(base: string, path: string): Promise<T> {
  const reply = await expectStatus(base, 200, "GET", path);
  assert.match(reply.contentType ?? "", /^application\/json/, `GET ${path} answers JSON`);
  return JSON.parse(reply.body) as T;
}

/** The registration body current servers accept: port as {"$","@enabled"}, a typed data center. */
function instanceBody(app: string, id: string, port: number, durationInSecs = 3) {
  const home = `http://127.0.0.1:${port}`;
  return {
    instance: {
      instanceId: id,
      hostName: "127.0.0.1",
      app,
      ipAddr: "127.0.0.1",
      status: "UP",
      port: { $: port, "@enabled": "true" },
      securePort: { $: 443, "@enabled": "false" },
      vipAddress: app.toLowerCase(),
      dataCenterInfo: {
        "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
        name: "MyOwn",
      },
      leaseInfo: { renewalIntervalInSecs: 1, durationInSecs },
      statusPageUrl: `${home}/status`,
      healthCheckUrl: `${home}/health`,
      homePageUrl: `${home}/`,
      metadata: { zone: "zone-a", weight: "10" },
    },
  };
}

async function register(base: string, app: string, id: string, port: number, duration = 3) {
  const reply = await expectStatus(base, 204, "POST", `/apps/${app}`, instanceBody(app, id, port, duration));
  assert.equal(reply.body, "", "a registration answers with an empty body");
}

/** Cleanup: deregisters if still there (404 means a test step already did, or it was evicted). */
async function forget(base: string, app: string, id: string): Promise<void> {
  const reply = await call(base, "DELETE", `/apps/${app}/${id}`);
  assert.ok(reply.status === 200 || reply.status === 404, `DELETE ${id}: HTTP ${reply.status}`);
}

async function instancesOf(base: string, app: string): Promise<InstanceJson[]> {
  const { application } = await getJson<{ application: ApplicationJson }>(base, `/apps/${app}`);
  assert.equal(application.name, app);
  return list(application.instance);
}

async function one(base: string, app: string): Promise<InstanceJson> {
  const instances = await instancesOf(base, app);
  assert.equal(instances.length, 1, JSON.stringify(instances));
  return instances[0]!;
}

/** The instances of `app` in a registry or delta document. */
function findApp(doc: ApplicationsJson, app: string): InstanceJson[] {
  return list(doc.applications.application).filter((a) => a.name === app).flatMap((a) => list(a.instance));
}

/** Eureka's reconcile hash: "STATUS_count_" for each status, in status-name order. */
function reconcileHash(doc: ApplicationsJson): string {
  const counts = new Map<string, number>();
  for (const app of list(doc.applications.application)) {
    for (const instance of list(app.instance)) {
      counts.set(instance.status, (counts.get(instance.status) ?? 0) + 1);
    }
  }
  return [...counts.keys()].sort().map((status) => `${status}_${counts.get(status)}_`).join("");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A test against the server at SD_EUREKA_URL, run under the server's shared lock. */
function eurekaTest(name: string, fn: (base: string) => Promise<void>): void {
  serverTest(name, VARIABLE, (base) => withEurekaLock("shared", () => fn(base)));
}

eurekaTest(
  "An instance registered with the JSON current servers accept reads back with its port, lease and metadata",
  async (base) => {
    const app = uniqueApp("REG");
    const id = `${app.toLowerCase()}-1`;
    await register(base, app, id, 8081);
    try {
      const got = await one(base, app);
      assert.deepEqual(
        [got.instanceId, got.app, got.hostName, got.ipAddr, got.status, got.overriddenStatus],
        [id, app, "127.0.0.1", "127.0.0.1", "UP", "UNKNOWN"],
      );
      // Ports come back as {"$": number, "@enabled": string}, whatever form was sent.
      assert.deepEqual(got.port, { $: 8081, "@enabled": "true" });
      assert.deepEqual(got.securePort, { $: 443, "@enabled": "false" });
      assert.equal(got.vipAddress, app.toLowerCase());
      assert.deepEqual(got.dataCenterInfo, {
        "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
        name: "MyOwn",
      });
      assert.deepEqual(got.metadata, { zone: "zone-a", weight: "10" });
      assert.equal(got.statusPageUrl, "http://127.0.0.1:8081/status");
      assert.equal(got.leaseInfo.renewalIntervalInSecs, 1);
      assert.equal(got.leaseInfo.durationInSecs, 3);
      assert.equal(got.leaseInfo.evictionTimestamp, 0);
      assert.ok(got.leaseInfo.registrationTimestamp > 0);
      // Two timestamps are JSON strings, unlike the lease's numbers.
      assert.match(got.lastUpdatedTimestamp, /^\d+$/);
      assert.match(got.lastDirtyTimestamp, /^\d+$/);

      // One instance by application and id; the application name is case-insensitive in paths.
      const single = await getJson<{ instance: InstanceJson }>(base, `/apps/${app.toLowerCase()}/${id}`);
      assert.equal(single.instance.instanceId, id);
      assert.equal(single.instance.app, app);

      // The full registry lists it too.
      const full = await getJson<ApplicationsJson>(base, "/apps");
      assert.deepEqual(findApp(full, app).map((i) => i.instanceId), [id]);
      assert.equal(full.applications.apps__hashcode, reconcileHash(full));

      await expectStatus(base, 200, "DELETE", `/apps/${app}/${id}`);
      await expectStatus(base, 404, "GET", `/apps/${app}`);
      await expectStatus(base, 404, "DELETE", `/apps/${app}/${id}`);
    } finally {
      await forget(base, app, id);
    }
  },
);

eurekaTest(
  "Eureka rejects a registration with a bare numeric port, an untyped data center or no IP address",
  async (base) => {
    const app = uniqueApp("BAD");
    const id = `${app.toLowerCase()}-1`;
    const good = instanceBody(app, id, 8082).instance;
    try {
      const variants: [string, Record<string, unknown>, RegExp][] = [
        ["a bare numeric port", { ...good, port: 8082 }, /cannot parse request body/],
        ["an untyped data center", { ...good, dataCenterInfo: { name: "MyOwn" } }, /cannot parse/],
        ["no IP address", { ...good, ipAddr: undefined }, /Missing ip address/],
        ["another application's name", { ...good, app: "EDGEKIT-IT-OTHER" }, /Mismatched appName/],
      ];
      for (const [what, instance, message] of variants) {
        const reply = await call(base, "POST", `/apps/${app}`, { instance });
        assert.equal(reply.status, 400, `${what}: HTTP ${reply.status} ${reply.body}`);
        assert.match(reply.body, message, what);
      }
      await expectStatus(base, 404, "GET", `/apps/${app}`);
    } finally {
      await forget(base, app, id);
    }
  },
);

eurekaTest(
  "A heartbeat answers 200 for a registered instance and 404 for one the server does not know",
  async (base) => {
    const app = uniqueApp("BEAT");
    const id = `${app.toLowerCase()}-1`;
    await register(base, app, id, 8083, 30);
    try {
      const cached = performance.now();
      const before = (await one(base, app)).leaseInfo;
      assert.equal(before.lastRenewalTimestamp, before.registrationTimestamp);
      const beat = await expectStatus(base, 200, "PUT", `/apps/${app}/${id}`);
      assert.equal(beat.body, "");
      // Renewals do not invalidate the server's response cache (registrations, cancellations and
      // status changes do), so a read shows the lease as it was when its entry was cached: clients
      // cannot watch heartbeats through lastRenewalTimestamp. The test server expires entries after
      // 1 s, so this holds only for a read within that second.
      const after = (await one(base, app)).leaseInfo;
      if (performance.now() - cached < 900) {
        assert.equal(after.lastRenewalTimestamp, before.lastRenewalTimestamp);
      }
      assert.equal(after.registrationTimestamp, before.registrationTimestamp);

      // Unknown instance or application: 404, the signal to register again.
      await expectStatus(base, 404, "PUT", `/apps/${app}/${id}-unknown`);
      await expectStatus(base, 404, "PUT", `/apps/${uniqueApp("NONE")}/${id}`);
    } finally {
      await forget(base, app, id);
    }
    await expectStatus(base, 404, "PUT", `/apps/${app}/${id}`);
  },
);

eurekaTest(
  "An OUT_OF_SERVICE override shows in the instance and in the delta until it is removed",
  async (base) => {
    const app = uniqueApp("OOS");
    const id = `${app.toLowerCase()}-1`;
    await register(base, app, id, 8084, 30);
    try {
      await expectStatus(base, 200, "PUT", `/apps/${app}/${id}/status?value=OUT_OF_SERVICE`);
      const out = await one(base, app);
      assert.deepEqual([out.status, out.overriddenStatus], ["OUT_OF_SERVICE", "OUT_OF_SERVICE"]);

      const delta = await getJson<ApplicationsJson>(base, "/apps/delta");
      // The delta holds the latest change per instance, with the instance's current state.
      const changed = findApp(delta, app);
      assert.deepEqual(changed.map((i) => [i.instanceId, i.actionType, i.status]), [
        [id, "MODIFIED", "OUT_OF_SERVICE"],
      ]);
      // apps__hashcode covers the whole registry, so other instances may count too.
      assert.match(delta.applications.apps__hashcode, /^([A-Z_]+_[1-9]\d*_)+$/);
      assert.match(delta.applications.apps__hashcode, /OUT_OF_SERVICE_[1-9]\d*_/);
      assert.match(delta.applications.versions__delta, /^-?\d+$/);

      // A heartbeat does not clear the override.
      await expectStatus(base, 200, "PUT", `/apps/${app}/${id}`);
      assert.equal((await one(base, app)).status, "OUT_OF_SERVICE");

      // Removing the override with value=UP puts it back in service.
      await expectStatus(base, 200, "DELETE", `/apps/${app}/${id}/status?value=UP`);
      const back = await one(base, app);
      assert.deepEqual([back.status, back.overriddenStatus], ["UP", "UNKNOWN"]);

      // Metadata can be changed in place; unknown instances answer 404.
      await expectStatus(base, 200, "PUT", `/apps/${app}/${id}/metadata?weight=20&version=v2`);
      assert.deepEqual((await one(base, app)).metadata, { zone: "zone-a", weight: "20", version: "v2" });
      await expectStatus(base, 404, "PUT", `/apps/${app}/${id}-unknown/status?value=OUT_OF_SERVICE`);
      await expectStatus(base, 404, "PUT", `/apps/${app}/${id}-unknown/metadata?weight=1`);
    } finally {
      await forget(base, app, id);
    }
  },
);

eurekaTest(
  "The delta reports an instance as ADDED, then as DELETED once it is deregistered",
  async (base) => {
    const app = uniqueApp("DELTA");
    const ids = [`${app.toLowerCase()}-1`, `${app.toLowerCase()}-2`];
    await register(base, app, ids[0]!, 8085, 30);
    await register(base, app, ids[1]!, 8086, 30);
    try {
      const added = findApp(await getJson<ApplicationsJson>(base, "/apps/delta"), app);
      assert.deepEqual(added.map((i) => [i.instanceId, i.actionType]).sort(), [
        [ids[0], "ADDED"],
        [ids[1], "ADDED"],
      ]);
      // Two instances: the application read lists both.
      assert.deepEqual((await instancesOf(base, app)).map((i) => i.instanceId).sort(), [...ids].sort());

      await expectStatus(base, 200, "DELETE", `/apps/${app}/${ids[0]}`);
      const after = findApp(await getJson<ApplicationsJson>(base, "/apps/delta"), app);
      assert.deepEqual(after.map((i) => [i.instanceId, i.actionType]).sort(), [
        [ids[0], "DELETED"],
        [ids[1], "ADDED"],
      ]);
      const deleted = after.find((i) => i.instanceId === ids[0])!;
      assert.ok(deleted.leaseInfo.evictionTimestamp > 0, "a deleted instance carries its eviction time");
      assert.deepEqual((await instancesOf(base, app)).map((i) => i.instanceId), [ids[1]]);

      // The full registry no longer has it, and its hashcode matches its own contents.
      const full = await getJson<ApplicationsJson>(base, "/apps");
      assert.deepEqual(findApp(full, app).map((i) => i.instanceId), [ids[1]]);
      assert.equal(full.applications.apps__hashcode, reconcileHash(full));
    } finally {
      for (const id of ids) await forget(base, app, id);
    }
  },
);

eurekaTest(
  "An instance stays registered while it sends heartbeats and is evicted once they stop",
  async (base) => {
    const app = uniqueApp("EVICT");
    const id = `${app.toLowerCase()}-1`;
    // durationInSecs 3: a lease lapses 3 s after registering, 6 s after the last heartbeat (the
    // renew quirk), and the server looks for lapsed leases every second.
    const registeredAt = Date.now();
    await register(base, app, id, 8087, 3);
    try {
      // Heartbeats every second keep it past the 3 s an unrenewed registration would last.
      while (Date.now() - registeredAt < 4_500) {
        await expectStatus(base, 200, "PUT", `/apps/${app}/${id}`);
        await delay(1_000);
      }
      await expectStatus(base, 200, "PUT", `/apps/${app}/${id}`);
      assert.equal((await one(base, app)).instanceId, id, "still registered after 4.5 s of heartbeats");

      const deadline = Date.now() + 20_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        await delay(250);
        status = (await call(base, "GET", `/apps/${app}`)).status;
      }
      assert.equal(status, 404, "the instance was evicted within 20 s of its last heartbeat");
      const delta = findApp(await getJson<ApplicationsJson>(base, "/apps/delta"), app);
      assert.deepEqual(delta.map((i) => [i.instanceId, i.actionType]), [[id, "DELETED"]]);
      // A heartbeat after eviction is told to register again.
      await expectStatus(base, 404, "PUT", `/apps/${app}/${id}`);
    } finally {
      await forget(base, app, id);
    }
  },
);

// Checks the real Consul agent (scripts/servers/consul.sh, `consul agent -dev`) that the Consul
// backend's integration tests run against: the HTTP API shapes and the blocking-query protocol the
// instancer and registrar rely on. Start it, then:
//   eval "$(bash scripts/servers/consul.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env tests/integration/consul_server_test.ts
// Every test registers services under a name unique to the run and deregisters them in `finally`.
import { assert } from "../_deps.ts";
import { serverTestLocked } from "./_server.ts";

// Consul tests share the agent; the restart test takes it for itself.
const serverTest = serverTestLocked("consul", "shared");

const VARIABLE = "SD_CONSUL_ADDR";
/** Bound on any single request, blocking ones included (their wait is at most 5 s plus jitter). */
const REQUEST_TIMEOUT_MS = 15_000;
const RUN = crypto.randomUUID().slice(0, 8);
let serial = 0;

/** A service name no other run or test uses. */
function uniqueName(topic: string): string {
  serial += 1;
  return `edgekit-it-${topic}-${RUN}-${serial}`;
}

interface Reply {
  status: number;
  /** The X-Consul-Index header, null when absent. */
  index: string | null;
  body: string;
}

interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[] | null };
  Checks: { CheckID: string; ServiceID: string; Status: string; Output: string }[];
}

/** One request to the agent; the body is always read to the end and the wait is bounded. */
async function call(addr: string, method: string, path: string, json?: unknown): Promise<Reply> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const init: RequestInit = { method, signal: controller.signal };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers = { "content-type": "application/json" };
    }
    const res = await fetch(`http://${addr}${path}`, init);
    const body = await res.text();
    return { status: res.status, index: res.headers.get("x-consul-index"), body };
  } finally {
    clearTimeout(timer);
  }
}

/** A call that must answer 200. */
async function ok(addr: string, method: string, path: string, json?: unknown): Promise<Reply> {
  const reply = await call(addr, method, path, json);
  assert.equal(reply.status, 200, `${method} ${path}: HTTP ${reply.status} ${reply.body}`);
  return reply;
}

async function health(
  addr: string,
  name: string,
  query = "",
): Promise<{ index: string; entries: HealthEntry[] }> {
  const reply = await ok(addr, "GET", `/v1/health/service/${encodeURIComponent(name)}${query}`);
  assert.match(reply.index ?? "", /^[1-9][0-9]*$/, "a health read carries a positive X-Consul-Index");
  return { index: reply.index!, entries: JSON.parse(reply.body) as HealthEntry[] };
}

/** Registers one instance of `name` with a TTL check, which starts out critical. */
async function register(addr: string, name: string, id: string, port: number, ttl = "30s"): Promise<string> {
  const checkId = `${id}:ttl`;
  const reply = await ok(addr, "PUT", "/v1/agent/service/register", {
    ID: id,
    Name: name,
    Address: "127.0.0.1",
    Port: port,
    Tags: ["edgekit", "v1"],
    Check: { CheckID: checkId, Name: "edgekit ttl", TTL: ttl, DeregisterCriticalServiceAfter: "1m" },
  });
  assert.equal(reply.body, "", "a registration answers with an empty body");
  return checkId;
}

async function deregister(addr: string, id: string): Promise<void> {
  await ok(addr, "PUT", `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
}

/** Cleanup: deregisters `id` if it is still there (404 means a test step already did). */
async function forget(addr: string, id: string): Promise<void> {
  const reply = await call(addr, "PUT", `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  assert.ok(
    reply.status === 200 || reply.status === 404,
    `deregister ${id}: HTTP ${reply.status} ${reply.body}`,
  );
}

function serviceCheck(entry: HealthEntry, checkId: string) {
  const check = entry.Checks.find((c) => c.CheckID === checkId);
  assert.ok(check, `entry has check ${checkId}: ${JSON.stringify(entry.Checks)}`);
  return check;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

serverTest(
  "A service registered with a TTL check is critical until the check passes, and gone once deregistered",
  VARIABLE,
  async (addr) => {
    const name = uniqueName("ttl");
    const id = `${name}-1`;
    const checkId = await register(addr, name, id, 8081);
    try {
      const critical = await health(addr, name);
      assert.equal(critical.entries.length, 1);
      const entry = critical.entries[0]!;
      assert.equal(entry.Node.Node, "edgekit-test");
      assert.deepEqual(
        [entry.Service.ID, entry.Service.Service, entry.Service.Address, entry.Service.Port],
        [id, name, "127.0.0.1", 8081],
      );
      assert.deepEqual(entry.Service.Tags, ["edgekit", "v1"]);
      assert.equal(serviceCheck(entry, checkId).Status, "critical");
      assert.equal(serviceCheck(entry, checkId).ServiceID, id);
      // The node's own health check comes along with the service's.
      assert.equal(serviceCheck(entry, "serfHealth").Status, "passing");
      assert.deepEqual((await health(addr, name, "?passing")).entries, []);

      await ok(addr, "PUT", `/v1/agent/check/pass/${encodeURIComponent(checkId)}?note=ready`);
      const passing = await health(addr, name, "?passing");
      assert.equal(passing.entries.length, 1);
      assert.equal(passing.entries[0]!.Service.ID, id);
      assert.equal(serviceCheck(passing.entries[0]!, checkId).Status, "passing");
      assert.equal(serviceCheck(passing.entries[0]!, checkId).Output, "ready");
      assert.ok(BigInt(passing.index) > BigInt(critical.index), "passing the check moves the index");
    } finally {
      await deregister(addr, id);
    }
    assert.deepEqual((await health(addr, name)).entries, []);
    // A check of a service that is gone cannot be updated.
    const stale = await call(addr, "PUT", `/v1/agent/check/pass/${encodeURIComponent(checkId)}`);
    assert.notEqual(stale.status, 200);
  },
);

serverTest("A blocking health query returns early when the service changes", VARIABLE, async (addr) => {
  const name = uniqueName("block");
  const ids = [`${name}-1`, `${name}-2`];
  const checkId = await register(addr, name, ids[0]!, 8081);
  try {
    await ok(addr, "PUT", `/v1/agent/check/pass/${encodeURIComponent(checkId)}`);
    const before = await health(addr, name, "?passing");
    assert.deepEqual(before.entries.map((e) => e.Service.ID), [ids[0]]);

    // Nothing changes: the query waits out its 1 s and answers with the same index and entries.
    const idle = await health(addr, name, `?passing&index=${before.index}&wait=1s`);
    assert.equal(idle.index, before.index);
    assert.deepEqual(idle.entries.map((e) => e.Service.ID), [ids[0]]);

    // A second instance turns passing while the query waits: it answers with a higher index and
    // both instances. Had it timed out instead, the index would be unchanged (as above).
    const pending = health(addr, name, `?passing&index=${before.index}&wait=5s`);
    await delay(200);
    const secondCheck = await register(addr, name, ids[1]!, 8082);
    await ok(addr, "PUT", `/v1/agent/check/pass/${encodeURIComponent(secondCheck)}`);
    const changed = await pending;
    assert.ok(BigInt(changed.index) > BigInt(before.index), `index ${changed.index} > ${before.index}`);
    // The query may have woken on the registration (critical, so filtered out) or on the pass;
    // read once more at the new index if the pass is not in yet.
    let latest = changed;
    if (latest.entries.length < 2) {
      latest = await health(addr, name, `?passing&index=${changed.index}&wait=5s`);
    }
    assert.deepEqual(latest.entries.map((e) => e.Service.ID).sort(), [...ids].sort());

    // Deregistering wakes a query waiting at the latest index too.
    const removal = health(addr, name, `?passing&index=${latest.index}&wait=5s`);
    await delay(200);
    await deregister(addr, ids[1]!);
    const removed = await removal;
    assert.ok(BigInt(removed.index) > BigInt(latest.index));
    assert.deepEqual(removed.entries.map((e) => e.Service.ID), [ids[0]]);
  } finally {
    for (const id of ids) await forget(addr, id);
  }
  assert.deepEqual((await health(addr, name)).entries, []);
});

serverTest("A TTL check that is not passed again in time turns critical", VARIABLE, async (addr) => {
  const name = uniqueName("expire");
  const id = `${name}-1`;
  const checkId = await register(addr, name, id, 8081, "1s");
  try {
    await ok(addr, "PUT", `/v1/agent/check/pass/${encodeURIComponent(checkId)}`);
    let view = await health(addr, name, "?passing");
    assert.deepEqual(view.entries.map((e) => e.Service.ID), [id]);
    // Follow the passing list with blocking queries (at most 3 rounds of 5 s) until the TTL lapses.
    for (let round = 0; round < 3 && view.entries.length > 0; round++) {
      view = await health(addr, name, `?passing&index=${view.index}&wait=5s`);
    }
    assert.deepEqual(view.entries, [], "the instance left the passing list");
    const all = await health(addr, name);
    assert.equal(all.entries.length, 1, "the instance is still registered");
    const check = serviceCheck(all.entries[0]!, checkId);
    assert.equal(check.Status, "critical");
    assert.match(check.Output, /TTL expired/);
  } finally {
    await deregister(addr, id);
  }
});

serverTest("The agent reports a leader and its own loopback address", VARIABLE, async (addr) => {
  const leader = await ok(addr, "GET", "/v1/status/leader");
  assert.match(JSON.parse(leader.body) as string, /^127\.0\.0\.1:\d+$/);
  const self = JSON.parse((await ok(addr, "GET", "/v1/agent/self")).body) as {
    Config: { NodeName: string; Server: boolean; Version: string };
    Member: { Addr: string };
  };
  assert.equal(self.Config.NodeName, "edgekit-test");
  assert.equal(self.Config.Server, true);
  assert.equal(self.Member.Addr, "127.0.0.1");
  const version = Deno.env.get("SD_CONSUL_VERSION");
  if (version) assert.equal(self.Config.Version, version);
  // Unknown agent paths are an error, not an empty success.
  const missing = await call(addr, "GET", "/v1/agent/service/edgekit-it-no-such-service");
  assert.equal(missing.status, 404);
});

// The etcd backend through real outages (exclusive use of the server): etcd stopped and restarted in
// the middle of a watch, a registrar cut off for longer than its lease TTL, and a compaction past the
// revision a disconnected watcher had reached. Each checks the exact revision every re-watch starts
// from: the last one seen + 1, so nothing is lost and nothing is applied twice.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_outage_test.ts
import { assert } from "../_deps.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { serverTest } from "./_server.ts";
import { compact, del, put, range, single, uniquePrefix, withEtcdLock } from "./_etcd.ts";
import { Gate, next, Recorder, sleep, startOf, waitFor } from "./_etcd_sd.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";

/** Events with runs of errors collapsed to one `error` (an outage may fail in several ways). */
function collapsed(events: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const item = e.startsWith("error:") ? "error" : e;
    if (item !== out.at(-1)) out.push(item);
  }
  return out;
}

/** Asserts that every watch request resumed right after the last revision etcd had delivered. */
function assertResumes(gate: Gate): void {
  const watches = gate.calls("/watch");
  for (const [i, w] of watches.entries()) {
    assert.equal(
      startOf(w),
      next(w.delivered),
      `watch ${i} of ${watches.length} resumes after ${w.delivered}`,
    );
  }
}

serverTest(
  "EtcdInstancer resumes from the last revision after etcd restarts mid-watch, and EtcdRegistrar puts back the key its expired lease took",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const prefix = uniquePrefix("sd-restart");
      const watcherGate = new Gate();
      const registrarGate = new Gate();
      const instancer = new EtcdInstancer(
        new EtcdClient({ endpoints: [url], fetch: watcherGate.fetch }),
        prefix,
        {
          backoff: { initial: 100, max: 500 },
        },
      );
      const recorder = new Recorder(instancer);
      const registrar = new EtcdRegistrar(new EtcdClient({ endpoints: [url], fetch: registrarGate.fetch }), {
        key: `${prefix}self`,
        value: "127.0.0.1:9101",
        ttl: 2,
      });
      const registrarEvents: string[] = [];
      for (const type of ["registered", "reregistered", "error"]) {
        registrar.addEventListener(type, () => registrarEvents.push(type));
      }
      let down = false;
      try {
        await registrar.register();
        const firstLease = registrar.lease;
        const revision = await put(url, `${prefix}other`, "127.0.0.1:9102");
        await recorder.until("[127.0.0.1:9101,127.0.0.1:9102]");
        const settled = recorder.events.length;

        await single.stop();
        down = true;
        registrarGate.cut(); // the registrar stays cut off after etcd is back, until its lease expires
        await recorder.seen(/^error:/, settled);
        await sleep(2500); // longer than the TTL
        await single.resume();
        down = false;

        // The watch comes back; then etcd expires the lease (2 s after it took leadership again).
        await recorder.until("[127.0.0.1:9102]", 8000);
        assert.ok(watcherGate.calls("/watch").length >= 2, "the watch was opened again");
        assertResumes(watcherGate);
        assert.ok(BigInt(watcherGate.watchStarts().at(-1)!) > BigInt(revision));
        assert.equal(watcherGate.calls("/kv/range").length, 1, "no second list: nothing was compacted");

        registrarGate.heal();
        await recorder.until("[127.0.0.1:9101,127.0.0.1:9102]", 5000);
        await waitFor("reregistered", () => registrarEvents.includes("reregistered"));
        assert.notEqual(registrar.lease, firstLease);
        assert.equal((await range(url, `${prefix}self`)).kvs?.[0]?.lease, registrar.lease);
        assertResumes(watcherGate);
        assert.deepStrictEqual(collapsed(recorder.events.slice(settled - 1)), [
          "[127.0.0.1:9101,127.0.0.1:9102]",
          "error",
          "[127.0.0.1:9101,127.0.0.1:9102]", // the watch is back (the lease was extended on restart) ...
          "[127.0.0.1:9102]", // ... until the registrar's lease ran out
          "[127.0.0.1:9101,127.0.0.1:9102]", // and it registered again
        ]);
        assert.equal(registrarEvents[0], "registered");
        assert.ok(registrarEvents.includes("error"));
      } finally {
        if (down) await single.resume();
        registrarGate.heal();
        instancer.stop();
        await registrar.deregister().catch(() => {});
        await del(url, prefix, { prefix: true });
        await sleep(20);
      }
    }),
);

serverTest(
  "EtcdInstancer lists again when a compaction has passed its revision while it was disconnected",
  VARIABLE,
  (url) =>
    withEtcdLock("exclusive", async () => {
      const prefix = uniquePrefix("sd-compact");
      await put(url, `${prefix}a`, "127.0.0.1:9201");
      await put(url, `${prefix}b`, "127.0.0.1:9202");
      const gate = new Gate();
      const instancer = new EtcdInstancer(new EtcdClient({ endpoints: [url], fetch: gate.fetch }), prefix, {
        backoff: { initial: 100, max: 500 },
      });
      const recorder = new Recorder(instancer);
      let down = false;
      try {
        await recorder.until("[127.0.0.1:9201,127.0.0.1:9202]");

        gate.cut();
        await recorder.seen(/^error:/);
        await del(url, `${prefix}a`);
        await put(url, `${prefix}c`, "127.0.0.1:9203");
        const last = await put(url, `${prefix}d`, "127.0.0.1:9204");
        await compact(url, last);
        await single.stop();
        down = true;
        await single.resume();
        down = false;
        const before = gate.requests.length;
        gate.heal();

        await recorder.until("[127.0.0.1:9202,127.0.0.1:9203,127.0.0.1:9204]");
        const after = gate.requests.slice(before);
        assert.deepStrictEqual(after.map((r) => r.path), ["/v3/watch", "/v3/kv/range", "/v3/watch"]);
        // Resumed after the last revision seen (cancelled: compacted), listed again at or after the
        // compaction, and watched from the listed revision + 1.
        assertResumes(gate);
        assert.ok(
          BigInt(startOf(after[0]!)!) <= BigInt(last),
          "the resumed watch started before the compaction",
        );
        assert.ok(BigInt(after[2]!.delivered!) >= BigInt(last), "listed at or after the compaction");
        await put(url, `${prefix}e`, "127.0.0.1:9205");
        await recorder.until("[127.0.0.1:9202,127.0.0.1:9203,127.0.0.1:9204,127.0.0.1:9205]");
        assert.deepStrictEqual(collapsed(recorder.events), [
          "[127.0.0.1:9201,127.0.0.1:9202]",
          "error",
          "[127.0.0.1:9201,127.0.0.1:9202]", // the resumed watch was created, then cancelled
          "[127.0.0.1:9202,127.0.0.1:9203,127.0.0.1:9204]",
          "[127.0.0.1:9202,127.0.0.1:9203,127.0.0.1:9204,127.0.0.1:9205]",
        ]);
      } finally {
        if (down) await single.resume();
        gate.heal();
        instancer.stop();
        await del(url, prefix, { prefix: true });
        await sleep(20);
      }
    }),
);

// EtcdInstancer under injected faults, on fake time with random() = 0.5 (so the n-th pause is 3/4 of
// min(30 s, 500 ms * 2^(n-1)): 375, 750, 1500 ... ms). Each case checks the exact events (the last
// good state survives, one error event unless it is the quiet idle reopen, then recovery) and the
// exact start_revision of every re-watch: the last revision seen + 1, so no change is lost and none
// is applied twice.
import { assert } from "../_deps.ts";
import { FakeEtcd, header } from "../_fakes/etcd.ts";
import { DefaultEndpointer } from "../../src/endpointer.ts";
import { MalformedResponseError, RegistryUnavailableError } from "../../src/errors.ts";
import { recordingLogger, withInstancer } from "./_harness.ts";

const ERR = "error:RegistryUnavailableError";

/** A store with /svc/a (revision 2) and /svc/b (revision 3). */
function store(): FakeEtcd {
  const fake = new FakeEtcd();
  fake.put("/svc/a", "a:1");
  fake.put("/svc/b", "b:1");
  return fake;
}

Deno.test("EtcdInstancer reopens a stalled stream after the idle timeout from the last revision + 1, with no error event", async () => {
  const fake = store();
  const logger = recordingLogger();
  await withInstancer(fake, { idleTimeout: 10_000, logger }, async ({ clock, events, starts, times }) => {
    await clock.tickAsync(3000);
    fake.put("/svc/c", "c:1"); // revision 4, at 3 s: the idle timer starts again
    await clock.tickAsync(9_999);
    assert.deepStrictEqual(times("/watch"), [0]);
    await clock.tickAsync(1);
    assert.ok(fake.watches[0]!.cancelled, "the silent stream was aborted");
    await clock.tickAsync(374);
    assert.deepStrictEqual(times("/watch"), [0]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(times("/watch"), [0, 13_375]);
    assert.deepStrictEqual(starts(), ["4", "5"]);
    fake.put("/svc/d", "d:1");
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[a:1,b:1]", "[a:1,b:1,c:1]", "[a:1,b:1,c:1,d:1]"]);
    assert.ok(logger.lines.includes("info etcd watch idle; reopening it"));
    assert.equal(fake.calls("/kv/range").length, 1, "an idle reopen does not list again");
  });
});

Deno.test("EtcdInstancer keeps a quiet stream open on progress notifications and resumes after their revision", async () => {
  const fake = store();
  await withInstancer(fake, { idleTimeout: 10_000 }, async ({ clock, events, starts }) => {
    await clock.tickAsync(0);
    for (let i = 0; i < 12; i++) {
      await clock.tickAsync(6_000);
      fake.put(`/other/${i}`, "x"); // elsewhere in the store: the revision moves on
      fake.watches[0]!.progress(fake.revision);
    }
    assert.equal(fake.watches.length, 1, "no reopen in 72 s of progress notifications");
    assert.equal(fake.revision, 15);
    fake.watches[0]!.fail();
    await clock.tickAsync(375);
    assert.deepStrictEqual(starts(), ["4", "16"]);
    assert.deepStrictEqual(events, ["[a:1,b:1]", ERR, "[a:1,b:1]"]);
  });
});

Deno.test("EtcdInstancer resumes a stream cut mid-line from the last event + 1 and applies the missed writes once", async () => {
  const fake = store();
  await withInstancer(fake, {}, async ({ clock, instancer, events, starts, times }) => {
    const endpointer = new DefaultEndpointer(instancer, (i) => ({ endpoint: () => Promise.resolve(i) }));
    await clock.tickAsync(0);
    fake.put("/svc/c", "c:1"); // revision 4
    await clock.tickAsync(0);
    fake.watches[0]!.raw('{"result":{"header":{"revision":"5"},"events":[{"kv":{"key":"L3N2Yy9k');
    fake.watches[0]!.fail(new TypeError("connection reset by peer"));
    await clock.tickAsync(0);
    assert.match(
      String(instancer.state()?.error?.message),
      /etcd watch stream broke: TypeError: connection reset/,
    );
    assert.equal(endpointer.endpoints().length, 3, "the endpointer keeps the last good endpoints");
    fake.put("/svc/d", "d:1"); // revision 5, while disconnected
    fake.delete("/svc/a"); // revision 6
    await clock.tickAsync(375);
    assert.deepStrictEqual(times("/watch"), [0, 375]);
    assert.deepStrictEqual(starts(), ["4", "5"]);
    assert.deepStrictEqual(events, [
      "[a:1,b:1]",
      "[a:1,b:1,c:1]",
      ERR,
      "[a:1,b:1,c:1]",
      "[a:1,b:1,c:1,d:1]",
      "[b:1,c:1,d:1]",
    ]);
    assert.equal(endpointer.endpoints().length, 3);
    endpointer.close();
  });
});

Deno.test("EtcdInstancer reports a garbage line, keeps its state and resumes after the last good event", async () => {
  const fake = store();
  await withInstancer(fake, {}, async ({ clock, instancer, events, starts }) => {
    await clock.tickAsync(0);
    fake.put("/svc/c", "c:1");
    await clock.tickAsync(0);
    fake.watches[0]!.raw("<html>502 Bad Gateway</html>\n");
    await clock.tickAsync(0);
    assert.ok(instancer.state()?.error instanceof MalformedResponseError);
    assert.ok(fake.watches[0]!.cancelled, "the broken stream was released");
    await clock.tickAsync(375);
    assert.deepStrictEqual(starts(), ["4", "5"]);
    assert.deepStrictEqual(events, [
      "[a:1,b:1]",
      "[a:1,b:1,c:1]",
      "error:MalformedResponseError",
      "[a:1,b:1,c:1]",
    ]);
  });
});

Deno.test("EtcdInstancer reports the error line of a stopping server and resumes", async () => {
  const fake = store();
  await withInstancer(fake, {}, async ({ clock, instancer, events, starts }) => {
    await clock.tickAsync(0);
    fake.watches[0]!.serverError("transport is closing");
    await clock.tickAsync(0);
    assert.equal(instancer.state()?.error?.message, "etcd ended the watch stream: transport is closing");
    await clock.tickAsync(375);
    assert.deepStrictEqual(starts(), ["4", "4"]);
    assert.deepStrictEqual(events, ["[a:1,b:1]", ERR, "[a:1,b:1]"]);
  });
});

Deno.test("EtcdInstancer retries a 500 on the list and on the watch with backoff, listing only when it must", async () => {
  const fake = store();
  fake.script("/kv/range", "http500");
  fake.script("/watch", "http500", "http500");
  await withInstancer(fake, {}, async ({ clock, events, starts, times }) => {
    await clock.tickAsync(10_000);
    assert.deepStrictEqual(times("/kv/range"), [0, 375]);
    assert.deepStrictEqual(times("/watch"), [375, 1125, 2625]);
    assert.deepStrictEqual(starts(), ["4", "4", "4"]);
    assert.deepStrictEqual(events, [ERR, "[a:1,b:1]", ERR, "[a:1,b:1]"]);
  });
});

Deno.test("EtcdInstancer treats a cancellation without compaction as an error and watches again from the same revision", async () => {
  const fake = store();
  await withInstancer(fake, {}, async ({ clock, instancer, events, starts }) => {
    await clock.tickAsync(0);
    fake.watches[0]!.canceled(undefined, "etcdserver: no leader");
    await clock.tickAsync(0);
    const error = instancer.state()?.error;
    assert.ok(error instanceof RegistryUnavailableError);
    assert.equal(error.message, 'etcd cancelled the watch on "/svc/": etcdserver: no leader');
    await clock.tickAsync(375);
    assert.deepStrictEqual(starts(), ["4", "4"]);
    assert.deepStrictEqual(events, ["[a:1,b:1]", ERR, "[a:1,b:1]"]);
    assert.equal(fake.calls("/kv/range").length, 1);
  });
});

Deno.test("EtcdInstancer lists again after a compaction cancels its watch, then watches from the new revision", async () => {
  const fake = store();
  const logger = recordingLogger();
  await withInstancer(fake, { logger }, async ({ clock, events, starts, times }) => {
    await clock.tickAsync(0);
    fake.watches[0]!.fail(); // disconnected ...
    fake.delete("/svc/a"); // 4
    fake.put("/svc/c", "c:1"); // 5
    fake.put("/svc/d", "d:1"); // 6
    fake.compact(6); // ... and history up to 6 is gone
    await clock.tickAsync(375);
    assert.deepStrictEqual(starts(), ["4", "4", "7"]);
    assert.deepStrictEqual(times("/kv/range"), [0, 375], "listed again at once");
    assert.deepStrictEqual(events, [
      "[a:1,b:1]",
      ERR,
      "[a:1,b:1]", // the resumed watch was created, then cancelled for compaction
      "[b:1,c:1,d:1]",
    ]);
    assert.ok(logger.lines.includes("info etcd compacted past the watch; listing again"));
    fake.put("/svc/e", "e:1");
    await clock.tickAsync(0);
    assert.equal(events.at(-1), "[b:1,c:1,d:1,e:1]");
  });
});

Deno.test("EtcdInstancer backs off when compaction cancels every fresh watch instead of spinning", async () => {
  const fake = store();
  fake.autoWatch = false;
  const compacted = (request: Parameters<FakeEtcd["respond"]>[0]) => {
    const response = fake.respond(request);
    const watch = fake.watches.at(-1)!;
    watch.created(fake.revision);
    watch.canceled(fake.revision);
    return response;
  };
  fake.script("/watch", compacted, compacted, compacted, compacted);
  await withInstancer(fake, {}, async ({ clock, events, times }) => {
    await clock.tickAsync(5_000);
    assert.deepStrictEqual(times("/watch"), [0, 0, 375, 1125, 2625]);
    assert.deepStrictEqual(times("/kv/range"), [0, 0, 375, 1125, 2625]);
    assert.deepStrictEqual(events, ["[a:1,b:1]"], "a relist is not an error");
    assert.equal(fake.openWatches().length, 1);
  });
});

Deno.test("EtcdInstancer backs off more each time a stream ends without delivering anything", async () => {
  const fake = store();
  fake.script("/watch", ...Array.from({ length: 12 }, () => () => new Response("")));
  await withInstancer(fake, {}, async ({ clock, events, times }) => {
    await clock.tickAsync(70_000);
    assert.deepStrictEqual(times("/watch"), [0, 375, 1125, 2625, 5625, 11_625, 23_625, 46_125, 68_625]);
    assert.deepStrictEqual(events, ["[a:1,b:1]"]);
  });
});

Deno.test("EtcdInstancer backs off, growing and capped, from a watch that is accepted and closed at once", async () => {
  const fake = store();
  // Nine watches that send `created` and end at once (a proxy or a sick member); then a normal one.
  fake.script(
    "/watch",
    ...Array.from({ length: 9 }, () => (request: Parameters<FakeEtcd["respond"]>[0]) => {
      const response = fake.respond(request);
      fake.watches.at(-1)!.end();
      return response;
    }),
  );
  await withInstancer(fake, {}, async ({ clock, events, times, starts }) => {
    await clock.tickAsync(91_125);
    const at = times("/watch");
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 3/4 of min(30 s, 500 ms * 2^(n-1)): growing, then capped at 22.5 s; never 375 ms forever.
    assert.deepStrictEqual(gaps, [375, 750, 1500, 3000, 6000, 12_000, 22_500, 22_500, 22_500]);
    assert.ok(starts().every((s) => s === "4"));
    assert.deepStrictEqual(events, ["[a:1,b:1]"], "clean ends are not error events");
    // The tenth watch is healthy: it delivers a change and lasts; when it breaks, the pause starts afresh.
    await clock.tickAsync(2_000);
    fake.put("/svc/c", "c:1");
    await clock.tickAsync(0);
    fake.watches.at(-1)!.fail();
    await clock.tickAsync(375);
    assert.deepStrictEqual(times("/watch").slice(-2), [91_125, 93_500]);
    assert.deepStrictEqual(events, ["[a:1,b:1]", "[a:1,b:1,c:1]", ERR, "[a:1,b:1,c:1]"]);
  });
});

Deno.test("EtcdInstancer counts a watch that delivers progress but ends within a second as a failure", async () => {
  const fake = store();
  fake.script(
    "/watch",
    ...Array.from({ length: 3 }, () => (request: Parameters<FakeEtcd["respond"]>[0]) => {
      const response = fake.respond(request);
      fake.watches.at(-1)!.progress(fake.revision);
      fake.watches.at(-1)!.end();
      return response;
    }),
  );
  await withInstancer(fake, {}, async ({ clock, times }) => {
    await clock.tickAsync(5_625);
    assert.deepStrictEqual(times("/watch"), [0, 375, 1_125, 2_625]);
  });
});

Deno.test("EtcdInstancer lists again from scratch when etcd's revision goes backwards (data wiped), serving vanished keys for the grace period", async () => {
  const fake = store(); // /svc/a at 2, /svc/b at 3
  for (let i = 0; i < 50; i++) fake.put("/other", String(i)); // revision 53
  const logger = recordingLogger();
  await withInstancer(fake, { logger, resetGrace: 5_000 }, async ({ clock, events, starts, times }) => {
    await clock.tickAsync(2_000);
    fake.put("/svc/c", "c:1"); // revision 54
    await clock.tickAsync(0);
    fake.wipe(); // etcd restarted on a fresh data dir
    fake.put("/svc/b", "b:1"); // a live registrar writes its key again: revision 2
    fake.put("/svc/d", "d:1"); // a new instance: revision 3
    await clock.tickAsync(375);
    // The resumed watch (from 55) is created at revision 3: the store went back, so list again.
    assert.deepStrictEqual(starts(), ["54", "55", "4"]);
    assert.deepStrictEqual(times("/kv/range"), [0, 2_375]);
    // Never empty: a and c, gone from the store, are still served until written again or the grace ends.
    assert.deepStrictEqual(events, ["[a:1,b:1]", "[a:1,b:1,c:1]", ERR, "[a:1,b:1,c:1,d:1]"]);
    fake.put("/svc/a", "a:2"); // a registers again, with a new value
    fake.delete("/svc/d");
    await clock.tickAsync(4_999);
    assert.deepStrictEqual(events.slice(4), ["[a:2,b:1,c:1,d:1]", "[a:2,b:1,c:1]"]);
    await clock.tickAsync(1);
    assert.deepStrictEqual(
      events.slice(6),
      ["[a:2,b:1]"],
      "c was not written again: dropped after the grace",
    );
    fake.put("/svc/e", "e:1");
    await clock.tickAsync(0);
    assert.deepStrictEqual(events.slice(7), ["[a:2,b:1,e:1]"]);
    assert.ok(
      logger.lines.some((l) => l.startsWith("warn etcd revision went backwards")),
      logger.lines.join("\n"),
    );
  });
});

Deno.test("EtcdInstancer lists again when the watch reports another cluster ID, and drops vanished keys at once with resetGrace 0", async () => {
  const fake = store();
  fake.autoWatch = false;
  await withInstancer(fake, { resetGrace: 0 }, async ({ clock, events, starts }) => {
    await clock.tickAsync(0);
    fake.watches[0]!.created(3);
    await clock.tickAsync(0);
    fake.delete("/svc/a"); // revision 4, unseen: the stream is driven by hand
    fake.put("/svc/x", "x:1"); // revision 5
    // A snapshot restored into a new cluster: the revision did not go back, the cluster ID changed.
    fake.watches[0]!.send({ header: { ...header(9), cluster_id: "42" } });
    await clock.tickAsync(0);
    assert.deepStrictEqual(starts(), ["4", "6"]);
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[a:1,b:1]", "[b:1,x:1]"]);
  });
});

Deno.test("EtcdInstancer starts its backoff afresh after a healthy stream breaks", async () => {
  const fake = store();
  fake.script("/kv/range", "http500", "http500", "http500");
  await withInstancer(fake, {}, async ({ clock, events, times }) => {
    await clock.tickAsync(2_625);
    assert.deepStrictEqual(times("/kv/range"), [0, 375, 1125, 2625]);
    fake.put("/svc/c", "c:1");
    await clock.tickAsync(1_000);
    fake.watches[0]!.fail();
    await clock.tickAsync(375);
    assert.deepStrictEqual(times("/watch"), [2625, 4000], "375 ms after a healthy stream, not 3 s");
    assert.deepStrictEqual(events, [ERR, "[a:1,b:1]", "[a:1,b:1,c:1]", ERR, "[a:1,b:1,c:1]"]);
  });
});

Deno.test("EtcdInstancer caps its backoff at options.backoff.max", async () => {
  const fake = store();
  fake.script("/kv/range", ...Array.from({ length: 8 }, () => "network" as const));
  await withInstancer(
    fake,
    { backoff: { initial: 1000, max: 4000, multiplier: 3 } },
    async ({ clock, times }) => {
      await clock.tickAsync(20_000);
      // 3/4 of 1000, 3000, 4000, 4000 ...
      assert.deepStrictEqual(times("/kv/range"), [0, 750, 3000, 6000, 9000, 12_000, 15_000, 18_000]);
    },
  );
});

Deno.test("EtcdInstancer re-authenticates when etcd cancels its watch for an expired token", async () => {
  const fake = store();
  fake.users = new Map([["svc", "pw"]]);
  await withInstancer(
    fake,
    {},
    async ({ clock, events, starts }) => {
      await clock.tickAsync(0);
      fake.put("/svc/c", "c:1");
      await clock.tickAsync(0);
      fake.tokens.clear(); // the token expired
      fake.watches[0]!.fail();
      await clock.tickAsync(375); // the watch is refused inside the stream
      await clock.tickAsync(750); // the next one authenticates first
      assert.deepStrictEqual(fake.paths(), [
        "/auth/authenticate",
        "/kv/range",
        "/watch",
        "/watch",
        "/auth/authenticate",
        "/watch",
      ]);
      assert.deepStrictEqual(starts(), ["4", "5", "5"]);
      // Two different errors: the broken stream, then the refused watch.
      assert.deepStrictEqual(events, ["[a:1,b:1]", "[a:1,b:1,c:1]", ERR, ERR, "[a:1,b:1,c:1]"]);
    },
    { username: "svc", password: "pw" },
  );
});

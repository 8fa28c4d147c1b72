// EtcdInstancer with values under its prefix that are not instance strings: a binary (non-UTF-8)
// value written by some other program must not wedge discovery. etcd replays history on every
// resume, so an event that failed to decode would fail again on every reconnect, forever.
import { assert } from "../_deps.ts";
import { b64, FakeEtcd, header, putEvent } from "../_fakes/etcd.ts";
import { recordingLogger, withInstancer } from "./_harness.ts";

const BINARY = "//79"; // base64 of bytes ff fe fd: not UTF-8

Deno.test("EtcdInstancer skips a key whose value is not UTF-8 when it lists, and keeps the others", async () => {
  const fake = new FakeEtcd();
  fake.autoWatch = false;
  fake.script("/kv/range", () =>
    Response.json({
      header: header(5),
      kvs: [
        { key: b64("/svc/a"), value: b64("10.0.0.1:80"), mod_revision: "2" },
        { key: b64("/svc/bin"), value: BINARY, mod_revision: "3" },
        { key: b64("/svc/c"), value: b64("10.0.0.3:80"), mod_revision: "4" },
      ],
    }));
  const logger = recordingLogger();
  await withInstancer(fake, { logger }, async ({ clock, events, starts }) => {
    await clock.tickAsync(0);
    assert.deepStrictEqual(events, ["[10.0.0.1:80,10.0.0.3:80]"]);
    assert.deepStrictEqual(starts(), ["6"]);
    assert.ok(logger.lines.some((l) => /not UTF-8/.test(l)), logger.lines.join("\n"));
  });
});

Deno.test("EtcdInstancer is not wedged by a binary value in a watch event that every resume replays", async () => {
  const fake = new FakeEtcd();
  fake.autoWatch = false;
  fake.put("/svc/a", "10.0.0.1:80"); // revision 2
  const bad = { kv: { key: b64("/svc/bin"), value: BINARY, mod_revision: "3" } };
  await withInstancer(fake, {}, async ({ clock, events, starts }) => {
    await clock.tickAsync(0);
    fake.watches[0]!.created(2);
    fake.watches[0]!.events(3, bad);
    fake.watches[0]!.events(4, putEvent("/svc/bin", "10.0.0.2:80", 4)); // corrected at once
    await clock.tickAsync(0);
    fake.watches[0]!.fail(); // a reconnect replays history from the last revision seen + 1
    await clock.tickAsync(375);
    const replay = fake.watches[1];
    if (replay !== undefined) {
      replay.created(4);
      replay.events(3, bad);
      replay.events(4, putEvent("/svc/bin", "10.0.0.2:80", 4));
    }
    await clock.tickAsync(0);
    assert.equal(events.at(-1), "[10.0.0.1:80,10.0.0.2:80]", events.join(" "));
    assert.deepStrictEqual(starts(), ["3", "5"], "the binary event was consumed, not retried");
  });
});

// The watch stream splitter (LineSplitter in src/etcd/_wire.ts) and EtcdClient.watch on large
// messages: linear in the message size (the shapes that took 15 s and 10 s with the old, quadratic
// splitter finish at once; bench/etcd_stream.bench.ts measures the ratio), same size cap as before.
import { assert } from "../_deps.ts";
import { FakeEtcd, putEvent } from "../_fakes/etcd.ts";
import { header } from "../_fakes/etcd_watch.ts";
import { LineSplitter } from "../../src/etcd/_wire.ts";
import { EtcdClient } from "../../src/etcd/client.ts";
import { MalformedResponseError } from "../../src/errors.ts";

function cut(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function split(chunks: readonly string[], max: number): string[] {
  const splitter = new LineSplitter(max);
  const lines = chunks.flatMap((c) => splitter.push(c));
  const last = splitter.end();
  return last === undefined ? lines : [...lines, last];
}

Deno.test("LineSplitter joins lines split across chunks, splits chunks holding several, trims and skips blank lines", () => {
  const text = 'a1\n\n  b22 \r\n{"c":3}\n\n\nlast';
  for (const size of [1, 2, 3, 5, 7, text.length]) {
    assert.deepStrictEqual(
      split(cut(text, size), 100),
      ["a1", "b22", '{"c":3}', "last"],
      `chunks of ${size}`,
    );
  }
  assert.deepStrictEqual(split(["", "x", "", "\n", ""], 100), ["x"]);
  assert.deepStrictEqual(split([], 100), []);
});

Deno.test("LineSplitter takes a 16 MiB message in 16 KiB chunks and 600 KB in 50-byte chunks whole", () => {
  for (const [total, size] of [[16 << 20, 16 << 10], [600_000, 50]] as const) {
    const body = "x".repeat(total - 1);
    const lines = split(cut(`${body}\n`, size), 16 << 20);
    assert.equal(lines.length, 1);
    assert.ok(lines[0] === body, `${total} characters in chunks of ${size}`);
  }
});

Deno.test("LineSplitter keeps the size cap: an unfinished message fails as soon as it passes it, a finished one too", () => {
  const splitter = new LineSplitter(100);
  splitter.push("x".repeat(60));
  assert.throws(() => splitter.push("x".repeat(41)), {
    name: "MalformedResponseError",
    message: /exceeds 100 bytes/,
  });
  assert.throws(() => new LineSplitter(100).push(`${"y".repeat(101)}\n`), MalformedResponseError);
  assert.deepStrictEqual(new LineSplitter(100).push(`${"z".repeat(100)}\n${"z".repeat(100)}\n`), [
    "z".repeat(100),
    "z".repeat(100),
  ]);
});

Deno.test("EtcdClient.watch decodes a 600 KB event that arrives in 50-byte chunks, and refuses one over maxResponseBytes", async () => {
  const value = "v".repeat(450_000); // 600 KB once base64-encoded
  const event = { kv: { ...(putEvent("/svc/big", "", 9)["kv"] as object), value: btoa(value) } };
  const line = `${JSON.stringify({ result: { header: header(9), events: [event] } })}\n`;
  for (const [max, ok] of [[16 << 20, true], [line.length - 2, false]] as const) {
    const fake = new FakeEtcd();
    fake.autoWatch = false;
    const client = new EtcdClient({
      endpoints: ["http://a.test:2379"],
      fetch: fake.fetch,
      maxResponseBytes: max,
    });
    const it = client.watch("/svc/", { prefix: true });
    const first = it.next();
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (const chunk of cut(line, 50)) fake.watches[0]!.raw(chunk);
    fake.watches[0]!.end();
    if (ok) {
      const message = (await first).value!;
      assert.equal(message.events[0]!.kv.value, value);
      assert.equal((await it.next()).done, true);
    } else {
      await assert.rejects(() => first, MalformedResponseError);
    }
    await it.return();
  }
});

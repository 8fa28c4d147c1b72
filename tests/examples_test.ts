// Runs every example as a user would and checks what it prints, so the examples cannot rot.
import { assert } from "./_deps.ts";

const root = new URL("../", import.meta.url);

async function run(file: string): Promise<string> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net=127.0.0.1", file],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await command.output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `${file} exited with ${code}:\n${out}\n${new TextDecoder().decode(stderr)}`);
  return out;
}

Deno.test("The demo sends every request to a live instance while one service crashes", async () => {
  const out = await run("examples/demo.ts");
  assert.match(out, /60 of 60 requests succeeded, 0 failed/);
  assert.match(out, /bravo\s+127\.0\.0\.1:\d+\s+down/);
  assert.match(out, /\[discovery\] 2 instances/);
  const retried = Number(/(\d+) attempts hit the crashed instance/.exec(out)?.[1]);
  assert.ok(retried > 0, `expected retries around the crashed instance:\n${out}`);
});

Deno.test("The fixed-instances example rotates over the sorted instances and closes them", async () => {
  const out = await run("examples/fixed_instances.ts");
  assert.match(out, /GetUser handled by 10\.0\.0\.1:9000\nListOrders handled by 10\.0\.0\.2:9000/);
  assert.match(out, /closing the connection to 10\.0\.0\.3:9000/);
});

Deno.test("The retry example succeeds on the second instance and replaces a final error", async () => {
  const out = await run("examples/retry.ts");
  assert.match(out, /name: "user-7" \} after 2 attempts/);
  assert.match(out, /ERR_RETRY_EXHAUSTED: final error "User does not exist"/);
});

Deno.test("The memory-registry example sees a crashed instance expire", async () => {
  const out = await run("examples/memory_registry.ts");
  assert.match(
    out,
    /orders: \[10\.0\.0\.1:8080 \(eu-1\), 10\.0\.0\.2:8080 \(eu-2\)\]\norders: \[10\.0\.0\.1:8080 \(eu-1\)\]\norders: \[\]/,
  );
});

Deno.test("The invalidate-on-error example serves stale endpoints, then throws, then recovers", async () => {
  const out = await run("examples/invalidate_on_error.ts");
  assert.match(out, /still serving 2 endpoints/);
  assert.match(out, /change: 0 endpoints\nafter the grace period endpoints\(\) throws/);
  assert.match(out, /recovered with 1 endpoint/);
});

Deno.test("The random-balancer example spreads picks evenly", async () => {
  const out = await run("examples/random_balancer.ts");
  const counts = [...out.matchAll(/\b[abcd]: (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(counts.length, 4);
  for (const count of counts) assert.ok(count > 2200 && count < 2800, out);
});

Deno.test("The balancedFetch example retries 503s on the other instance", async () => {
  const out = await run("examples/balanced_fetch.ts");
  assert.equal((out.match(/^200 /gm) ?? []).length, 4, out);
  assert.match(out, /path: "\/api\/orders\/1"/);
});

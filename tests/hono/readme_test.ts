// The README's "Hono: a gateway" section shows, in order, examples/consul_gateway.ts (run under
// `deno serve` by tests/integration/consul_examples_test.ts and under Bun by
// tests/integration/hono_gateway_runtimes_test.ts), examples/consul_gateway_node.ts (the same app on
// Node 20, run by hono_gateway_runtimes_test.ts) and examples/hono_worker_gateway.ts (the Workers
// variant, run in workerd by tests/workerd/hono_gateway_test.ts); this keeps the README's code and the
// tested files the same, and the gateways under 20 lines (the blocks are marked `ignore`:
// `deno test --doc` cannot run a module's `export default` against a registry).
import { assert } from "../_deps.ts";

const root = new URL("../../", import.meta.url);

/** The ```ts ignore blocks of the README's "Hono: a gateway" section, in order. */
async function gatewayBlocks(): Promise<string[]> {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const start = readme.indexOf("## Hono: a gateway");
  assert.ok(start >= 0, "no Hono gateway section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts ignore\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The file without its header comment, as the README shows it. */
async function code(file: string): Promise<string> {
  const text = await Deno.readTextFile(new URL(file, root));
  return text.slice(text.indexOf("\nimport ") + 1);
}

const FILES = [
  "examples/consul_gateway.ts",
  "examples/consul_gateway_node.ts",
  "examples/hono_worker_gateway.ts",
];

Deno.test("The README's Hono gateway section shows the tested gateway files, each under 20 lines", async () => {
  const blocks = await gatewayBlocks();
  assert.equal(blocks.length, FILES.length, `${blocks.length} ts ignore blocks in the section`);
  for (const [i, file] of FILES.entries()) {
    const block = blocks[i]!;
    assert.equal(block, await code(file), `the README's block ${i + 1} is ${file}`);
    const lines = block.trimEnd().split("\n").length;
    assert.ok(lines < 20, `the README's ${file} has ${lines} lines`);
  }
});

Deno.test("The README's Node and Workers gateways keep the gateway's route and Consul configuration", async () => {
  const [gateway, node, worker] = (await gatewayBlocks()) as [string, string, string];
  // The Node file serves the gateway module itself, not a copy of it.
  assert.match(node, /^import gateway from "\.\/consul_gateway\.ts";$/m);
  assert.match(
    gateway,
    /\.all\("\/api\/\*", serviceProxy\(new RoundRobinBalancer\(endpointer\), \{ stripPrefix: "\/api"/,
  );
  assert.match(worker, /\.all\("\/api\/\*", /);
  assert.match(
    worker,
    /serviceProxy\(new RoundRobinBalancer\(endpointer\), \{ pull: instancer, stripPrefix: "\/api" \}\)/,
  );
  for (const name of ["SD_CONSUL_ADDR", "SD_SERVICE"]) {
    assert.ok(gateway.includes(name) && worker.includes(name), `${name} configures both`);
  }
});

// The README's "Hono: a gateway" section shows examples/consul_gateway.ts, which
// tests/integration/consul_examples_test.ts runs against the real agent; this keeps the two the same and
// the README's promise of a gateway under 20 lines (the block is marked `ignore`: `deno test --doc`
// cannot run a module's `export default` against a registry).
import { assert } from "../_deps.ts";

const root = new URL("../../", import.meta.url);

Deno.test("The README's Hono gateway is examples/consul_gateway.ts, in under 20 lines", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const section = readme.slice(readme.indexOf("## Hono: a gateway"));
  const block = /```ts ignore\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block !== undefined, "no ```ts ignore block in the Hono gateway section");
  const example = await Deno.readTextFile(new URL("examples/consul_gateway.ts", root));
  assert.equal(block, example.slice(example.indexOf("\nimport ") + 1));
  const lines = block.trimEnd().split("\n").length;
  assert.ok(lines < 20, `the README's gateway has ${lines} lines`);
});

// The README's "Cloudflare Workers" section shows examples/worker_gateway.ts, which the workerd tests
// run; this keeps the two the same (the README's block is marked `ignore`: `deno test --doc` cannot run
// a module's `export default`).
import { assert } from "../_deps.ts";

const root = new URL("../../", import.meta.url);

Deno.test("The README's Cloudflare Workers code is examples/worker_gateway.ts", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const section = readme.slice(readme.indexOf("## Cloudflare Workers"));
  const block = /```ts ignore\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block !== undefined, "no ```ts ignore block in the Cloudflare Workers section");
  const example = await Deno.readTextFile(new URL("examples/worker_gateway.ts", root));
  // The file's leading doc comment is the section's prose.
  assert.equal(block, example.slice(example.indexOf("\nimport ") + 1));
});

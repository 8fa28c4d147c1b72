// Fails unless jsr.json mirrors deno.json's name, version, license and exports, and every export
// target exists. `deno publish` reads only deno.json when both files exist, so a silent drift would
// publish something other than what jsr.json claims.
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const read = async (name: string) => JSON.parse(await Deno.readTextFile(new URL(name, root)));

const deno = await read("deno.json");
const jsr = await read("jsr.json");
const problems: string[] = [];
for (const key of ["name", "version", "license", "exports"]) {
  try {
    assert.deepStrictEqual(jsr[key], deno[key]);
  } catch {
    problems.push(
      `jsr.json ${key} ${JSON.stringify(jsr[key])} differs from deno.json ${JSON.stringify(deno[key])}`,
    );
  }
}
for (const [subpath, target] of Object.entries(deno.exports as Record<string, string>)) {
  try {
    await Deno.stat(new URL(target, root));
  } catch {
    problems.push(`export ${JSON.stringify(subpath)} points at missing file ${JSON.stringify(target)}`);
  }
}
if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  Deno.exit(1);
}
console.log(`manifest ok: ${deno.name}@${deno.version}, ${Object.keys(deno.exports).length} exports`);

// `deno doc --lint` over the given entry points, minus one false positive of Deno 2.9: it reports a
// public type that refers to a type of another package (here `hono`'s `Context`, `Env`,
// `MiddlewareHandler`) as "private-type-ref" (denoland/deno#27364, fixed upstream by #34339). Such a
// diagnostic is dropped when the referenced name is imported, in the file that refers to it, from a
// package (a bare or npm: specifier); every other diagnostic fails the run as before.
//   deno run --allow-run --allow-read scripts/doc_lint.ts mod.ts src/hono/mod.ts ...
const files = Deno.args;
const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...files],
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const text = new TextDecoder().decode(stderr);
if (code === 0) Deno.exit(0);

const blocks = text.split(/\n(?=error)/).filter((b) => b.startsWith("error["));
const packageImports = new Map<string, Set<string>>();
async function importedFromPackages(file: string): Promise<Set<string>> {
  let names = packageImports.get(file);
  if (names === undefined) {
    names = new Set();
    const source = await Deno.readTextFile(file);
    for (const m of source.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"/g)) {
      if (m[2]!.startsWith(".") || m[2]!.startsWith("/")) continue;
      for (const part of m[1]!.split(",")) {
        const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
        if (name) names.add(name);
      }
    }
    packageImports.set(file, names);
  }
  return names;
}

const kept: string[] = [];
for (const block of blocks) {
  const ref = block.match(/^error\[private-type-ref\]: .* references private type '([^']+)'/);
  const at = block.match(/-->\s+(\S+?):\d+:\d+/);
  if (ref !== null && at !== null && (await importedFromPackages(at[1]!)).has(ref[1]!)) continue;
  if (block.startsWith("error: Found")) continue;
  kept.push(block);
}
const real = kept.filter((b) => !/^error: Found \d+ documentation lint/.test(b));
if (real.length === 0 && blocks.length > 0) Deno.exit(0);
console.error(real.length > 0 ? real.join("\n") : text);
await Deno.stdout.write(stdout);
Deno.exit(1);

// deno bench: splitting an etcd watch stream (newline-delimited JSON) into messages, the shapes from
// issue #11 item 5: one 16 MiB message in 16 KiB chunks, and a 600 KB message in 50-byte chunks.
//
// BASELINE ONLY: `quadraticSplit` below is the splitter src/etcd/client.ts used before (append each
// chunk to one string, search it from the start for a newline after every chunk). It is kept here,
// and only here, so that each run measures the before/after ratio on the same machine. The library
// uses LineSplitter (src/etcd/_wire.ts): pieces kept in a list, only new text searched, joined once.
import { LineSplitter } from "../src/etcd/_wire.ts";

const MAX = 16 << 20; // the client's default maxResponseBytes

/** One message of `total` characters (newline included) cut into `size`-character chunks. */
function chunked(total: number, size: number): string[] {
  const text = `${"x".repeat(total - 1)}\n`;
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** BASELINE (the old, quadratic algorithm): not used by the library. */
function quadraticSplit(chunks: readonly string[], maxLine: number): string[] {
  const lines: string[] = [];
  let buffer = "";
  for (const chunk of chunks) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line !== "") lines.push(line);
    }
    if (buffer.length > maxLine) throw new Error(`message exceeds ${maxLine} bytes`);
  }
  return lines;
}

function linearSplit(chunks: readonly string[], maxLine: number): string[] {
  const splitter = new LineSplitter(maxLine);
  const lines: string[] = [];
  for (const chunk of chunks) lines.push(...splitter.push(chunk));
  const last = splitter.end();
  if (last !== undefined) lines.push(last);
  return lines;
}

// A module-level sink, so the work cannot be optimised away.
export let sink = 0;

for (
  const [label, total, size] of [
    ["16 MiB message in 16 KiB chunks", 16 << 20, 16 << 10],
    ["600 KB message in 50-byte chunks", 600_000, 50],
  ] as const
) {
  const chunks = chunked(total, size);
  Deno.bench({
    name: `BASELINE old quadratic splitter: ${label}`,
    group: label,
    baseline: true,
    n: 1, // seconds per run before the fix
    warmup: 1,
    fn() {
      sink += quadraticSplit(chunks, MAX)[0]!.length;
    },
  });
  Deno.bench({
    name: `LineSplitter: ${label}`,
    group: label,
    fn() {
      sink += linearSplit(chunks, MAX)[0]!.length;
    },
  });
}

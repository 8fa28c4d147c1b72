// The etcd v3 JSON gateway's encoding: base64 keys and values, int64 numbers as strings, omitted
// zero values. Every reader here throws MalformedResponseError naming the bad field; internal.
import type { InstanceInput } from "../_event.ts";
import { describe, MalformedResponseError } from "../errors.ts";
import type { Logger } from "../types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8"); // not fatal: see fromBase64

/** UTF-8 text to base64. */
export function toBase64(text: string): string {
  const bytes = encoder.encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * base64 to UTF-8 text; throws MalformedResponseError for bad base64. Bytes that are not UTF-8 become
 * U+FFFD instead of an error: etcd stores any bytes, and one binary value must not fail a whole range
 * or watch message (a watch replays a message on every resume, so it would fail forever).
 */
export function fromBase64(value: unknown, field: string): string {
  if (value === undefined) return ""; // an omitted bytes field is empty
  if (typeof value !== "string") throw bad(field, value, "a base64 string");
  let binary: string;
  try {
    binary = atob(value);
  } catch {
    throw bad(field, value, "valid base64");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/** The key right after every key that starts with `prefix`: the prefix with its last byte + 1. */
export function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]!++;
      let binary = "";
      for (const b of end) binary += String.fromCharCode(b);
      return btoa(binary);
    }
  }
  return btoa("\0"); // every byte 0xff: the range runs to the end of the keyspace
}

/** An int64 field (sent as a string, omitted when 0) as a decimal string. */
export function int64(value: unknown, field: string): string {
  if (value === undefined) return "0";
  if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  throw bad(field, value, "an int64 (a decimal string)");
}

/** An int64 field that must fit a JavaScript number (TTLs, counts). */
export function smallInt(value: unknown, field: string): number {
  const n = Number(int64(value, field));
  if (!Number.isSafeInteger(n)) throw bad(field, value, "a safe integer");
  return n;
}

/** An object field (omitted means empty). */
export function object(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(field, value, "an object");
  }
  return value as Record<string, unknown>;
}

/** An array field (omitted means empty). */
export function array(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw bad(field, value, "an array");
  return value;
}

/** `a + 1` for decimal int64 strings. */
export function next(revision: string): string {
  return (BigInt(revision) + 1n).toString();
}

/**
 * Splits text arriving in chunks into trimmed, non-empty lines; a line (or an unfinished one) longer
 * than `maxLine` UTF-16 code units throws MalformedResponseError. Internal.
 */
export class LineSplitter {
  readonly #maxLine: number;
  /** The pieces of the unfinished line, in order, and their total length. */
  #parts: string[] = [];
  #length = 0;

  constructor(maxLine: number) {
    this.#maxLine = maxLine;
  }

  /** Adds a chunk; returns the lines it completed. */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let from = 0;
    let newline: number;
    while ((newline = chunk.indexOf("\n", from)) >= 0) {
      this.#add(chunk.slice(from, newline));
      const line = this.#take();
      if (line !== "") lines.push(line);
      from = newline + 1;
    }
    if (from < chunk.length) this.#add(from === 0 ? chunk : chunk.slice(from));
    return lines;
  }

  /** The last line if the text did not end with a newline. */
  end(): string | undefined {
    const line = this.#take();
    return line === "" ? undefined : line;
  }

  #add(piece: string): void {
    this.#length += piece.length;
    if (this.#length > this.#maxLine) {
      throw new MalformedResponseError(`etcd watch message exceeds ${this.#maxLine} bytes`);
    }
    if (piece !== "") this.#parts.push(piece);
  }

  #take(): string {
    const parts = this.#parts;
    this.#parts = [];
    this.#length = 0;
    return (parts.length === 1 ? parts[0]! : parts.join("")).trim();
  }
}

function bad(field: string, value: unknown, expected: string): MalformedResponseError {
  const shown = describe(value);
  return new MalformedResponseError(
    `etcd answered ${field} = ${
      shown.length > 80 ? `${shown.slice(0, 80)}...` : shown
    }, expected ${expected}`,
  );
}

/**
 * The instances under a prefix, as the instancer and the pull lookup publish them: each value is an
 * instance string (go-kit's layout), the key its `id`. Empty values and values that are not UTF-8 text
 * are skipped with a warning, not an error: one bad key must not hide the others.
 */
export function kvsToInstances(
  kvs: Iterable<readonly [key: string, value: string]>,
  logger?: Logger,
): InstanceInput[] {
  const out: InstanceInput[] = [];
  for (const [key, value] of kvs) {
    if (value === "") {
      logger?.warn("etcd key with an empty value skipped", { key });
      continue;
    }
    if (value.includes("\uFFFD")) {
      logger?.warn("etcd key with a value that is not UTF-8 text skipped", { key });
      continue;
    }
    out.push({ instance: value, id: key });
  }
  return out;
}

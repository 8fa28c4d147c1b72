// Stand-in for jsr:@std/assert, which this network cannot reach. deno.json maps "@std/assert" here so
// that doc examples read as they will once the map points at JSR; only what the examples use is here.
import { assert as nodeAssert } from "./_deps.ts";

/** Throws unless `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Throws unless `actual` deeply equals `expected`. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Throws unless `actual === expected`. */
export function assertStrictEquals<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  nodeAssert.strictEqual(actual, expected, message);
}

/** Throws unless `fn` throws an instance of `ErrorClass`. */
export function assertThrows(fn: () => unknown, ErrorClass: new (...args: never[]) => Error): void {
  nodeAssert.throws(fn, ErrorClass);
}

/** Rejects unless `fn()` rejects with an instance of `ErrorClass`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  ErrorClass: new (...args: never[]) => Error,
): Promise<void> {
  await nodeAssert.rejects(fn, ErrorClass);
}

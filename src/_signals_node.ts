/**
 * The Node.js and Bun signal adapter: `process.on` / `process.off` and `process.exit`. Bun implements
 * Node's `process` events, so one adapter serves both. Loaded lazily by `detectSignalSource()`;
 * `process` is reached through `globalThis` with a local declaration of the members used, so this file
 * type-checks without Node's types (the Web-only check).
 *
 * Node 20 and Bun 1.4 facts this relies on: while a listener is registered the signal no longer
 * terminates the process; removing the last listener restores the default action; a signal listener
 * does not keep the event loop alive.
 *
 * @module
 */
import type { ShutdownSignal, SignalSource } from "./signals.ts";

/** The part of Node's `process` this adapter uses. */
interface ProcessLike {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
  exit(code?: number): never;
}

function proc(): ProcessLike {
  return (globalThis as unknown as { process: ProcessLike }).process;
}

/**
 * Creates the adapter.
 *
 * @param runtime The name it reports: `"node"` or `"bun"`.
 * @returns Signals through `process.on`, exit through `process.exit`.
 *
 * @example
 * ```ts
 * import { nodeSignals } from "./_signals_node.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(nodeSignals("bun").runtime, "bun");
 * ```
 */
export function nodeSignals(runtime: "node" | "bun"): SignalSource {
  return {
    runtime,
    listen(signal: ShutdownSignal, listener: () => void): () => void {
      const handler = () => listener();
      proc().on(signal, handler);
      return () => {
        proc().off(signal, handler);
      };
    },
    exit(code: number): void {
      proc().exit(code);
    },
  };
}

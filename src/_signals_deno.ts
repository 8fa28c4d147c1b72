/**
 * The Deno signal adapter: `Deno.addSignalListener` / `Deno.removeSignalListener` and `Deno.exit`.
 * Loaded lazily by `detectSignalSource()`; it reaches Deno through `globalThis` with a local
 * declaration of the few members it uses, so it type-checks without the Deno namespace (the Web-only
 * check) and never runs outside Deno.
 *
 * Deno facts this relies on (Deno 2.9, Linux): while a listener is registered the signal no longer
 * terminates the process; removing the last listener restores the default action; a signal listener
 * does not keep the event loop alive. On Windows only SIGINT (and SIGBREAK) can be listened to, so
 * `listen` throws for the others and the caller skips them.
 *
 * @module
 */
import type { ShutdownSignal, SignalSource } from "./signals.ts";

/** The part of the `Deno` namespace this adapter uses. */
interface DenoLike {
  addSignalListener(signal: string, handler: () => void): void;
  removeSignalListener(signal: string, handler: () => void): void;
  exit(code?: number): never;
}

function deno(): DenoLike {
  return (globalThis as unknown as { Deno: DenoLike }).Deno;
}

/**
 * Signals through `Deno.addSignalListener`, exit through `Deno.exit`.
 *
 * @example
 * ```ts
 * import { denoSignals } from "./_signals_deno.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(denoSignals.runtime, "deno");
 * ```
 */
export const denoSignals: SignalSource = {
  runtime: "deno",
  listen(signal: ShutdownSignal, listener: () => void): () => void {
    const handler = () => listener();
    deno().addSignalListener(signal, handler);
    return () => {
      try {
        deno().removeSignalListener(signal, handler);
      } catch { /* already removed */ }
    };
  },
  exit(code: number): void {
    deno().exit(code);
  },
};

/**
 * OS signals for `gracefulShutdown`: the signals it handles, their conventional exit codes,
 * and the per-runtime adapters (Deno; Node and Bun), loaded lazily by feature detection so that nothing
 * runtime-specific is imported on hosts without signals (Cloudflare Workers, browsers).
 *
 * @module
 */

/** The signals a shutdown can listen to. */
export type ShutdownSignal = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGQUIT";

const SIGNAL_NUMBERS: Readonly<Record<ShutdownSignal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
};

/**
 * The conventional exit status of a process ended by `signal`: 128 plus the signal's number (143 for
 * SIGTERM, 130 for SIGINT), as shells and container runtimes report it.
 *
 * @param signal The signal.
 * @returns 128 + its POSIX number.
 * @throws {TypeError} If `signal` is not a {@linkcode ShutdownSignal}.
 *
 * @example
 * ```ts
 * import { signalExitCode } from "@edgekit/sd";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(signalExitCode("SIGTERM"), 143);
 * assertEquals(signalExitCode("SIGINT"), 130);
 * ```
 */
export function signalExitCode(signal: ShutdownSignal): number {
  const n = Object.hasOwn(SIGNAL_NUMBERS, signal) ? SIGNAL_NUMBERS[signal] : undefined;
  if (n === undefined) {
    throw new TypeError(`Signal must be one of ${Object.keys(SIGNAL_NUMBERS).join(", ")}, got "${signal}"`);
  }
  return 128 + n;
}

/**
 * Where signals come from and how the process exits: one per runtime, found by
 * {@linkcode detectSignalSource}. Pass your own to `gracefulShutdown` to test without real
 * signals, or to support another host.
 *
 * @example A fake source that a test fires by hand
 * ```ts
 * import type { ShutdownSignal, SignalSource } from "@edgekit/sd";
 *
 * const listeners = new Map<ShutdownSignal, () => void>();
 * const exits: number[] = [];
 * const source: SignalSource = {
 *   runtime: "fake",
 *   listen(signal, listener) {
 *     listeners.set(signal, listener);
 *     return () => listeners.delete(signal);
 *   },
 *   exit: (code) => void exits.push(code),
 * };
 * void source;
 * ```
 */
export interface SignalSource {
  /** The runtime's name, for diagnostics: `"deno"`, `"node"`, `"bun"`, or your own. */
  readonly runtime: string;
  /**
   * Starts calling `listener` when the process receives `signal`.
   *
   * @returns A function that removes the listener; calling it twice is harmless.
   * @throws If the runtime cannot listen to this signal (Deno on Windows: anything but SIGINT).
   */
  listen(signal: ShutdownSignal, listener: () => void): () => void;
  /** Ends the process with `code`. */
  exit(code: number): void;
}

/**
 * Finds the signal adapter of the runtime this code runs in and loads it: Deno (its
 * `addSignalListener`), Bun and Node (the events of their `process` object). Nothing runtime-specific
 * is imported until then. Cloudflare Workers and browsers have no OS signals: the result is `undefined`.
 *
 * @returns The adapter, or `undefined` when the runtime has no signals.
 *
 * @example
 * ```ts
 * import { detectSignalSource } from "@edgekit/sd";
 * import { assertEquals } from "@std/assert";
 *
 * const source = await detectSignalSource(); // under Deno: the Deno adapter
 * assertEquals(source?.runtime, "deno");
 * ```
 */
export async function detectSignalSource(): Promise<SignalSource | undefined> {
  const g = globalThis as Record<string, unknown>;
  const deno = g["Deno"] as { addSignalListener?: unknown } | undefined;
  if (typeof deno?.addSignalListener === "function") {
    return (await import("./_signals_deno.ts")).denoSignals;
  }
  // workerd with nodejs_compat has a `process` object, but no signal ever reaches a worker.
  const nav = g["navigator"] as { userAgent?: unknown } | undefined;
  if (nav?.userAgent === "Cloudflare-Workers") return undefined;
  const proc = g["process"] as { on?: unknown; off?: unknown; exit?: unknown } | undefined;
  if (typeof proc?.on === "function" && typeof proc.off === "function" && typeof proc.exit === "function") {
    const { nodeSignals } = await import("./_signals_node.ts");
    return nodeSignals(typeof g["Bun"] === "object" && g["Bun"] !== null ? "bun" : "node");
  }
  return undefined;
}

/**
 * Graceful shutdown for long-lived hosts (Deno, `deno serve`, Bun, Node): on SIGTERM or SIGINT,
 * deregister the registrars, run your own hooks (close the server, drain requests), stop discovery,
 * then exit, all within one timeout.
 *
 * Why a helper is needed: in Deno, Node and Bun a signal with no listener terminates the process at
 * once (exit status 143 for SIGTERM, 130 for SIGINT), leaving registrations behind until their TTL
 * runs out. As soon as any listener is registered the default action is off, and the process ends
 * only when its event loop is empty. A watch-mode instancer (a watch stream, a blocking query, a
 * ZooKeeper socket) and a registrar's keep-alive keep that loop busy on purpose, so a listener that
 * only closes the HTTP server leaves the process running, still renewing its registration, until the
 * platform sends SIGKILL. `deno serve` installs such a listener itself (it aborts the server on
 * SIGTERM and SIGINT), so under `deno serve` a live instancer alone keeps the process running.
 *
 * Signals are reached through small adapters loaded on first use by feature detection (Deno's
 * `addSignalListener`; the `process` events of Node and Bun). Hosts without OS signals (Cloudflare
 * Workers, browsers) get a handle that listens to nothing and says so (`listening` is false);
 * `shutdown()` still works there.
 *
 * @module
 */
import { deadline } from "./_async.ts";
import { StoppedError } from "./errors.ts";
import type { Logger } from "./types.ts";
import { requireFunction, requireMethod, requireNumber } from "./_validate.ts";
import { detectSignalSource, type ShutdownSignal, signalExitCode, type SignalSource } from "./signals.ts";

/** Something with a registration to remove: every Registrar of this library. */
export interface Deregistrable {
  /** Removes the registration; aborting `signal` (the shutdown timeout) abandons the call. */
  deregister(options?: { signal?: AbortSignal }): Promise<void>;
  /** Stops the keep-alive; called after `deregister` settles or times out, so no timer survives. */
  stop?(): void;
}

/** Something with a loop to stop: every Instancer. */
export interface Stoppable {
  /** Stops it; idempotent. */
  stop(): void;
}

/** Something to close: an Endpointer (`DefaultEndpointer`), a client, a pool. */
export interface Closable {
  /** Closes it; idempotent. */
  close(): void | Promise<void>;
}

/** What a {@linkcode ShutdownHook} is told. */
export interface ShutdownContext {
  /** The signal that started the shutdown, or `"manual"` for `shutdown()`. */
  readonly trigger: ShutdownSignal | "manual";
  /** Aborts when the shutdown timeout runs out: stop waiting for stragglers then. */
  readonly signal: AbortSignal;
}

/**
 * Your own step of the shutdown, such as closing the HTTP server and waiting for in-flight requests.
 * Hooks run one after another, in the order given, after deregistration and while discovery is still
 * running (so draining requests can still reach their upstreams).
 */
export type ShutdownHook = (context: ShutdownContext) => void | Promise<void>;

/** What a shutdown takes care of. Every field is optional and defaults to nothing. */
export interface ShutdownTargets {
  /** Deregistered first, all at once, each given the timeout's signal. */
  registrars?: Iterable<Deregistrable>;
  /** Your hooks, run in order after deregistration. */
  onStop?: ShutdownHook | Iterable<ShutdownHook>;
  /** Closed after the hooks. */
  endpointers?: Iterable<Closable>;
  /** Stopped last. */
  instancers?: Iterable<Stoppable>;
}

/** Options for {@linkcode gracefulShutdown}. */
export interface ShutdownOptions extends ShutdownTargets {
  /** The signals that start the shutdown. Default: `["SIGTERM", "SIGINT"]`. */
  signals?: readonly ShutdownSignal[];
  /**
   * Milliseconds for the whole sequence (deregistration and hooks). When it runs out, the pending
   * calls are abandoned (their signal aborts), discovery is stopped and the process exits anyway.
   * Default: 5000, inside the grace period of common hosts (Fly.io 5 s, Docker 10 s, Kubernetes 30 s).
   */
  timeout?: number;
  /**
   * How a signal-started shutdown ends the process: `"signal"` exits with 128 + the signal's number
   * (143 for SIGTERM, 130 for SIGINT), what the process would have reported without a listener; a
   * number exits with that code (`0` for hosts that read 143 as a crash); `false` does not exit: the
   * listeners are removed and the process ends when nothing else keeps it alive. Exiting explicitly
   * is the default because a listener has turned the signal's own exit off, and any handle the
   * shutdown does not know about (a database pool, a stray timer) would otherwise keep the process
   * running. `shutdown()` called by hand never exits. Default: `"signal"`.
   */
  exit?: "signal" | number | false;
  /** Called with the report when the sequence ends, before any exit. Default: none. */
  onComplete?: (report: ShutdownReport) => void;
  /** Receives the progress and every failure. Default: silent. */
  logger?: Logger;
  /**
   * Where signals come from. Default: the runtime's, from {@linkcode detectSignalSource}. `null`
   * listens to nothing (for `shutdown()` by hand only).
   */
  source?: SignalSource | null;
}

/** One step that failed or ran out of time. */
export interface ShutdownFailure {
  /** Which kind of target failed. */
  readonly phase: "registrar" | "onStop" | "endpointer" | "instancer";
  /** Its position among the targets of that kind, in the order they were given. */
  readonly index: number;
  /** The error, or the timeout's `TimeoutError` DOMException if it was still pending. */
  readonly error: unknown;
}

/** How a shutdown went. */
export interface ShutdownReport {
  /** The signal that started it, or `"manual"`. */
  readonly trigger: ShutdownSignal | "manual";
  /** Every failed or abandoned step, in the order they ended. Empty when all went well. */
  readonly failures: readonly ShutdownFailure[];
  /** Whether the timeout ran out. */
  readonly timedOut: boolean;
  /** The code the process exits with next, or `null` if it does not exit. */
  readonly exitCode: number | null;
}

/** A running shutdown guard, returned by {@linkcode gracefulShutdown}. */
export interface ShutdownHandle extends Disposable {
  /** The runtime whose signals it listens to, or `null` when it listens to none. */
  readonly runtime: string | null;
  /** The signals it listens to now (empty once closed, or where the runtime has none). */
  readonly signals: readonly ShutdownSignal[];
  /** Whether it listens to any signal; false on Workers and in browsers. */
  readonly listening: boolean;
  /** Whether the shutdown has started. */
  readonly started: boolean;
  /**
   * Adds targets after creation, for example a server's drain hook.
   *
   * @throws {StoppedError} If the shutdown has already started.
   */
  add(targets: ShutdownTargets): void;
  /**
   * Runs the shutdown now, without a signal, and never ends the process; calling it again, or
   * a signal arriving meanwhile, joins the same run (a signal still exits when it ends).
   *
   * @returns The report; failures are in it, never thrown.
   */
  shutdown(): Promise<ShutdownReport>;
  /** Removes the signal listeners without shutting anything down. Idempotent. */
  close(): void;
}

/**
 * Installs signal listeners that shut the process down cleanly: registrars are deregistered in
 * parallel, then the `onStop` hooks run in order, then endpointers are closed and instancers stopped,
 * all bounded by `timeout`; then the process exits (see `exit`). Failures are reported (in the
 * report, to the logger), never thrown out of the signal handler. A second signal during the
 * shutdown is ignored: the timeout is the bound.
 *
 * What happens on SIGTERM without it (Deno 2.9, Node 20, Bun 1.4): the process dies at once with
 * status 143 and its registrations stay until their TTL expires; under `deno serve`, or with any
 * listener of your own, it does not die at all while an instancer or a registrar is live.
 *
 * @param options What to shut down, and how.
 * @returns The handle, once the listeners are installed; dispose it to remove them.
 * @throws {TypeError} If a signal, target or hook is not what it should be.
 * @throws {RangeError} If `timeout` or `exit` is out of range.
 *
 * @example
 * ```ts
 * import { gracefulShutdown, type SignalSource } from "@edgekit/sd";
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assertEquals } from "@std/assert";
 *
 * using registry = new MemoryRegistry();
 * const registrar = registry.registrar("api", "127.0.0.1:8080");
 * await registrar.register();
 * const instancer = registry.instancer("api");
 *
 * // In a program, leave `source` out: the runtime's signals are used.
 * let fire = () => {};
 * const exits: number[] = [];
 * const source: SignalSource = {
 *   runtime: "fake",
 *   listen: (_signal, listener) => ((fire = listener), () => {}),
 *   exit: (code) => void exits.push(code),
 * };
 * const closed: string[] = [];
 * using _shutdown = await gracefulShutdown({
 *   registrars: [registrar],
 *   instancers: [instancer],
 *   onStop: () => void closed.push("server"),
 *   signals: ["SIGTERM"],
 *   source,
 * });
 * fire(); // what SIGTERM does
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * assertEquals(closed, ["server"]);
 * assertEquals(exits, [143]);
 * ```
 */
export async function gracefulShutdown(options: ShutdownOptions = {}): Promise<ShutdownHandle> {
  const signals = [...(options.signals ?? ["SIGTERM", "SIGINT"])];
  for (const signal of signals) signalExitCode(signal);
  const timeout = requireNumber(options.timeout ?? 5000, "timeout", { finite: false });
  const exit = options.exit ?? "signal";
  if (exit !== "signal" && exit !== false) {
    if (typeof exit !== "number") {
      throw new TypeError(`exit must be "signal", false or an exit code, got ${JSON.stringify(exit)}`);
    }
    if (!Number.isInteger(exit) || exit < 0 || exit > 255) {
      throw new RangeError(`exit must be an integer from 0 to 255, got ${exit}`);
    }
  }
  if (options.onComplete !== undefined) requireFunction(options.onComplete, "onComplete");
  const handle = new Shutdown(timeout, exit, options.onComplete, options.logger);
  handle.add(options);
  const source = options.source === undefined ? await detectSignalSource() : options.source;
  if (source) handle.listen(source, [...new Set(signals)]);
  else {
    options.logger?.info("No OS signals in this runtime; call shutdown() yourself", {});
  }
  return handle;
}

type Outcome = { kind: "ok" } | { kind: "error"; error: unknown } | { kind: "timeout" };

/**
 * Runs `work`, settling early (as a timeout) when `signal` aborts. A hook started after the timeout
 * still runs, so a quick synchronous close happens, but nothing waits for it.
 */
function bounded(work: () => unknown, signal: AbortSignal): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const onAbort = () => resolve({ kind: "timeout" });
    let result: unknown;
    try {
      result = work();
    } catch (error) {
      resolve({ kind: "error", error });
      return;
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then !== "function") {
      resolve({ kind: "ok" });
      return;
    }
    const pending = Promise.resolve(result);
    if (signal.aborted) {
      pending.catch(() => {});
      resolve({ kind: "timeout" });
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      () => resolve({ kind: "ok" }),
      (error) => resolve({ kind: "error", error }),
    ).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function hooksOf(onStop: ShutdownTargets["onStop"]): ShutdownHook[] {
  if (onStop === undefined) return [];
  if (typeof onStop === "function") return [onStop];
  const hooks = [...onStop];
  for (const hook of hooks) requireFunction(hook, "onStop hook");
  return hooks;
}

class Shutdown implements ShutdownHandle {
  readonly #timeout: number;
  readonly #exit: "signal" | number | false;
  readonly #onComplete: ((report: ShutdownReport) => void) | undefined;
  readonly #logger: Logger | undefined;
  readonly #registrars: Deregistrable[] = [];
  readonly #hooks: ShutdownHook[] = [];
  readonly #endpointers: Closable[] = [];
  readonly #instancers: Stoppable[] = [];
  #source: SignalSource | undefined;
  #listeners: { signal: ShutdownSignal; remove: () => void }[] = [];
  #run: Promise<ShutdownReport> | undefined;
  // The first signal received; set means the process exits when the run ends.
  #exitSignal: ShutdownSignal | undefined;

  constructor(
    timeout: number,
    exit: "signal" | number | false,
    onComplete: ((report: ShutdownReport) => void) | undefined,
    logger: Logger | undefined,
  ) {
    this.#timeout = timeout;
    this.#exit = exit;
    this.#onComplete = onComplete;
    this.#logger = logger;
  }

  get runtime(): string | null {
    return this.#listeners.length > 0 && this.#source ? this.#source.runtime : null;
  }

  get signals(): readonly ShutdownSignal[] {
    return this.#listeners.map((l) => l.signal);
  }

  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  get started(): boolean {
    return this.#run !== undefined;
  }

  add(targets: ShutdownTargets): void {
    if (this.#run) throw new StoppedError("The shutdown handle");
    const registrars = [...(targets.registrars ?? [])];
    const endpointers = [...(targets.endpointers ?? [])];
    const instancers = [...(targets.instancers ?? [])];
    for (const r of registrars) requireMethod(r, "deregister", "A registrar");
    for (const e of endpointers) requireMethod(e, "close", "An endpointer");
    for (const i of instancers) requireMethod(i, "stop", "An instancer");
    const hooks = hooksOf(targets.onStop);
    this.#registrars.push(...registrars);
    this.#hooks.push(...hooks);
    this.#endpointers.push(...endpointers);
    this.#instancers.push(...instancers);
  }

  listen(source: SignalSource, signals: ShutdownSignal[]): void {
    this.#source = source;
    for (const signal of signals) {
      try {
        const remove = source.listen(signal, () => this.#onSignal(signal));
        this.#listeners.push({ signal, remove });
      } catch (error) {
        this.#logger?.warn("Cannot listen to this signal here", { signal, runtime: source.runtime, error });
      }
    }
  }

  shutdown(): Promise<ShutdownReport> {
    return this.#start("manual");
  }

  close(): void {
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const { remove } of listeners) {
      try {
        remove();
      } catch { /* the runtime dropped it already */ }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #onSignal(signal: ShutdownSignal): void {
    if (this.#exitSignal !== undefined) {
      this.#logger?.info("Already shutting down; signal ignored", { signal });
      return;
    }
    this.#exitSignal = signal;
    void this.#start(signal);
  }

  #start(trigger: ShutdownSignal | "manual"): Promise<ShutdownReport> {
    this.#run ??= this.#sequence(trigger).then((report) => this.#finish(report));
    return this.#run;
  }

  async #sequence(trigger: ShutdownSignal | "manual"): Promise<Omit<ShutdownReport, "exitCode">> {
    this.#logger?.info("Shutting down", { trigger });
    const limit = deadline(this.#timeout);
    const signal = limit.signal;
    const failures: ShutdownFailure[] = [];
    const note = (phase: ShutdownFailure["phase"], index: number, outcome: Outcome): void => {
      if (outcome.kind === "ok") return;
      const error = outcome.kind === "error" ? outcome.error : signal.reason;
      failures.push({ phase, index, error });
      this.#logger?.warn(
        outcome.kind === "timeout" ? "Shutdown step still pending at the timeout" : "Shutdown step failed",
        { phase, index, error },
      );
    };
    try {
      const context: ShutdownContext = { trigger, signal };
      const deregistered = await Promise.all(
        this.#registrars.map((r) => bounded(() => r.deregister({ signal }), signal)),
      );
      deregistered.forEach((outcome, i) => note("registrar", i, outcome));
      this.#registrars.forEach((r, i) => {
        if (typeof r.stop !== "function") return;
        try {
          r.stop();
        } catch (error) {
          note("registrar", i, { kind: "error", error });
        }
      });
      for (const [i, hook] of this.#hooks.entries()) {
        note(
          "onStop",
          i,
          await bounded(() => hook(context), signal),
        );
      }
      for (const [i, e] of this.#endpointers.entries()) {
        note(
          "endpointer",
          i,
          await bounded(() => e.close(), signal),
        );
      }
      for (const [i, s] of this.#instancers.entries()) {
        note(
          "instancer",
          i,
          await bounded(() => s.stop(), signal),
        );
      }
      return { trigger, failures, timedOut: signal.aborted };
    } finally {
      limit.clear();
    }
  }

  #finish(partial: Omit<ShutdownReport, "exitCode">): ShutdownReport {
    // A signal may have arrived during a manual run: it still gets its exit.
    const exitSignal = this.#exitSignal;
    const exitCode = exitSignal === undefined || this.#exit === false
      ? null
      : this.#exit === "signal"
      ? signalExitCode(exitSignal)
      : this.#exit;
    const report: ShutdownReport = { ...partial, exitCode };
    this.close();
    this.#logger?.info("Shutdown complete", {
      trigger: report.trigger,
      failures: report.failures.length,
      timedOut: report.timedOut,
      exitCode,
    });
    try {
      this.#onComplete?.(report);
    } catch (error) {
      this.#logger?.warn("onComplete threw", { error });
    }
    if (exitCode !== null) this.#source?.exit(exitCode);
    return report;
  }
}

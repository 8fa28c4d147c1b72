/**
 * Retrying an endpoint call across the instances a balancer offers.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, deadline, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "../_validate.ts";
import { RetryError, SdError } from "../errors.ts";
import type { Endpoint, EndpointOptions } from "../types.ts";
import type { Balancer, CallHandle, CallOutcome } from "./balancer.ts";
import { markBound } from "../_signal_bound.ts";

export type { BackoffOptions };

/**
 * Decides after every failed attempt, the last one included (as go-kit's `Callback`), whether to try
 * again. `attempt` is 1-based; `error` is exactly what the attempt threw (or the balancer, when it had
 * no endpoint). Return `true` to keep trying (still bounded by `attempts` and `timeout`), `false` to
 * stop, or `{ retry: false, error }` to stop and throw `error` as the {@linkcode RetryError.final}
 * instead. After the last attempt the answer is final: it cannot add an attempt, but an `error` in it
 * replaces the final error even with `retry: true`; before that, a replacement with `retry: true` is
 * ignored. A callback that throws stops the call with what it threw as the final error. It is not
 * called when the deadline or the caller's signal ends the call.
 */
export type RetryCallback = (
  attempt: number,
  error: unknown,
) => boolean | { retry: boolean; error?: unknown };

/** Options for {@linkcode retry}. */
export interface RetryOptions<Res = unknown> {
  /** Total attempts, the first included; an integer >= 1. Default: 3. */
  attempts?: number;
  /** Deadline in milliseconds for the whole call, every attempt and pause included. Default: 10,000. */
  timeout?: number;
  /** Deadline in milliseconds for each attempt. Default: none beyond `timeout`. */
  attemptTimeout?: number;
  /** Decides whether to go on after a failure. Default: always (until `attempts`). */
  shouldRetry?: RetryCallback;
  /**
   * Pause before each retry: capped exponential growth with jitter, between half and all of
   * `min(max, initial * multiplier^(retry - 1))`. `false` retries at once.
   * Default: `{ initial: 10, max: 1000, multiplier: 2 }`.
   */
  backoff?: Partial<BackoffOptions> | false;
  /** Random source in [0, 1) for the jitter. Default: `Math.random`. */
  random?: () => number;
  /**
   * Marks a returned value as a failure to retry (for example an HTTP 503). If no later attempt does
   * better, the call returns the last such value instead of throwing. Default: no value is retried.
   */
  retryResult?: (result: Res) => boolean;
  /** Receives each value dropped because a later attempt was made (for example to cancel a body). */
  discard?: (result: Res) => void;
  /**
   * Hears how every attempt went, for logs and metrics (see {@linkcode AttemptEvent}). Errors it throws
   * are ignored. Default: none, and then no clock is read.
   */
  onAttempt?: (event: AttemptEvent<Res>) => void;
  /** Clock in milliseconds for {@linkcode AttemptEvent.duration}. Default: `performance.now`. */
  now?: () => number;
}

/** One attempt of a `retry` or `balancedFetch` call, as {@linkcode RetryOptions.onAttempt} hears it. */
export interface AttemptEvent<Res = unknown> {
  /** 1-based attempt number within the call. */
  readonly attempt: number;
  /** The endpoint the balancer picked (a `DefaultEndpointer`'s `entries()` maps it to its instance). */
  readonly endpoint: Endpoint<never, Res>;
  /** How it ended, as the balancer's {@linkcode CallHandle} is told. */
  readonly outcome: CallOutcome;
  /** The result (`"success"`, `"retryable"`), the error or the abort reason. */
  readonly value: unknown;
  /** Milliseconds from the start of the attempt to its end. */
  readonly duration: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 10, max: 1000, multiplier: 2 };

/**
 * Wraps a balancer in an endpoint that retries failed calls on other instances (go-kit
 * `Retry`/`RetryWithCallback`, made cancellable). Each attempt asks the balancer for an endpoint,
 * preferring ones not yet tried in this call. Every attempt's signal aborts when the caller's signal
 * aborts (the call then rejects at once with the caller's reason, like `fetch`) or when the overall
 * deadline passes (the call then rejects with a {@linkcode RetryError} whose code is
 * `ERR_DEADLINE_EXCEEDED`). When attempts run out, the {@linkcode RetryError} lists every attempt's error.
 * A call allocates only what it needs: with no deadline (`timeout: Infinity` and no `attemptTimeout`)
 * and no caller's signal, endpoints get no signal and no timer is set; otherwise one timer per finite
 * deadline, and a combined signal only when the caller's signal and a deadline must both reach the
 * endpoint. Nothing is left behind once the call settles.
 * A balancer that implements {@linkcode Balancer.begin} hears of every attempt: `begin` just before it
 * starts, and `end` with `"success"`, `"retryable"` (a value `retryResult` marked), `"error"` (a throw or
 * a deadline) or `"cancelled"` (the caller's signal) once it settles or is abandoned.
 *
 * @param balancer Supplies an endpoint per attempt.
 * @param options Attempts, deadlines, callback, backoff.
 * @returns An endpoint.
 * @throws {TypeError | RangeError} If an option is invalid.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { retry, RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const flaky = async () => {
 *   throw new Error("connection refused");
 * };
 * const healthy = async (name: string) => `hello ${name}`;
 * const call = retry(new RoundRobinBalancer(new FixedEndpointer([flaky, healthy])), {
 *   attempts: 3,
 *   timeout: 1000,
 *   backoff: false,
 * });
 * assert((await call("edge")) === "hello edge");
 * ```
 */
export function retry<Req, Res>(
  balancer: Balancer<Req, Res>,
  options: RetryOptions<Res> = {},
): Endpoint<Req, Res> {
  const settings = retrySettings(balancer, options);
  return (request: Req, callOptions?: EndpointOptions): Promise<Res> => {
    const caller = callOptions?.signal;
    try {
      requireSignal(caller, "signal");
    } catch (error) {
      return Promise.reject(error);
    }
    return runRetry(balancer, settings, request, caller, callEndpoint);
  };
}

/** The validated options of a retrying call. Internal (shared with `balancedFetch`). */
export interface RetrySettings<Res> {
  /** Total attempts. */
  readonly attempts: number;
  /** Overall deadline in ms, or `Infinity`. */
  readonly timeout: number;
  /** Per-attempt deadline in ms, or `Infinity`. */
  readonly attemptTimeout: number;
  /** See {@linkcode RetryOptions.shouldRetry}. */
  readonly shouldRetry: RetryCallback | undefined;
  /** The pause before each retry; `undefined` for none. */
  readonly backoff: BackoffOptions | undefined;
  /** The jitter's random source. */
  readonly random: () => number;
  /** See {@linkcode RetryOptions.retryResult}. */
  readonly retryResult: ((result: Res) => boolean) | undefined;
  /** See {@linkcode RetryOptions.discard}. */
  readonly discard: ((result: Res) => void) | undefined;
  /** See {@linkcode RetryOptions.onAttempt}. */
  readonly onAttempt: ((event: AttemptEvent<Res>) => void) | undefined;
  /** See {@linkcode RetryOptions.now}. */
  readonly now: () => number;
}

/**
 * How one attempt calls the endpoint the balancer picked, with the attempt's signal (`undefined` when
 * nothing can abort it). Internal: `retry` calls the endpoint, `balancedFetch` may take a faster route.
 */
export type Invoke<Req, Res, Call> = (
  endpoint: Endpoint<Req, Res>,
  call: Call,
  signal: AbortSignal | undefined,
) => Promise<Res>;

const NO_OPTIONS: EndpointOptions = Object.freeze({});

function callEndpoint<Req, Res>(
  endpoint: Endpoint<Req, Res>,
  request: Req,
  signal: AbortSignal | undefined,
): Promise<Res> {
  return endpoint(request, signal === undefined ? NO_OPTIONS : { signal });
}

/**
 * Validates `retry` options. Internal (shared with `balancedFetch`).
 *
 * @param balancer Must have an `endpoint` method.
 * @param options The options to check.
 * @returns The settings with defaults filled in.
 * @throws {TypeError | RangeError} If an option is invalid.
 */
export function retrySettings<Req, Res>(
  balancer: Balancer<Req, Res>,
  options: RetryOptions<Res>,
): RetrySettings<Res> {
  requireMethod(balancer, "endpoint", "balancer");
  const attempts = requireNumber(options.attempts ?? 3, "options.attempts", { min: 1, integer: true });
  const timeout = requireNumber(options.timeout ?? 10_000, "options.timeout", { finite: false });
  const attemptTimeout = options.attemptTimeout === undefined
    ? Infinity
    : requireNumber(options.attemptTimeout, "options.attemptTimeout", { finite: false });
  const shouldRetry = options.shouldRetry;
  if (shouldRetry !== undefined) requireFunction(shouldRetry, "options.shouldRetry");
  const backoff = options.backoff === false ? undefined : { ...DEFAULT_BACKOFF, ...options.backoff };
  if (backoff !== undefined) {
    requireNumber(backoff.initial, "options.backoff.initial");
    requireNumber(backoff.max, "options.backoff.max");
    requireNumber(backoff.multiplier, "options.backoff.multiplier", { min: 1 });
  }
  const random = options.random ?? Math.random;
  requireFunction(random, "options.random");
  const { retryResult, discard } = options;
  if (retryResult !== undefined) requireFunction(retryResult, "options.retryResult");
  if (discard !== undefined) requireFunction(discard, "options.discard");
  const { onAttempt } = options;
  if (onAttempt !== undefined) requireFunction(onAttempt, "options.onAttempt");
  const now = options.now ?? (() => performance.now());
  requireFunction(now, "options.now");
  return {
    attempts,
    timeout,
    attemptTimeout,
    shouldRetry,
    backoff,
    random,
    retryResult,
    discard,
    onAttempt,
    now,
  };
}

/**
 * Runs one retrying call. Allocates only what the call needs: a controller and one timer for a finite
 * `timeout`, a second pair only for a finite `attemptTimeout`, a combined signal only when the caller's
 * signal and a deadline must both reach the endpoint, and nothing at all without a deadline or a
 * caller's signal. Internal (shared with `balancedFetch`); the caller's signal is already validated.
 *
 * @param balancer Supplies an endpoint per attempt.
 * @param s The settings.
 * @param call The request, handed to `invoke` unchanged.
 * @param caller The caller's signal.
 * @param invoke Calls one endpoint.
 * @param again Whether the call can go on after a failed attempt that would be retried (for
 *   `balancedFetch`, whether the request body is still held); asked only then. Default: always.
 * @returns The result.
 */
export async function runRetry<Req, Res, Call>(
  balancer: Balancer<Req, Res>,
  s: RetrySettings<Res>,
  call: Call,
  caller: AbortSignal | undefined,
  invoke: Invoke<Req, Res, Call>,
  again?: (call: Call) => boolean,
): Promise<Res> {
  if (caller?.aborted) throw caller.reason;
  const overall = s.timeout === Infinity ? undefined : deadline(s.timeout, caller);
  // Aborts when the whole call must end: the caller's abort or the overall deadline.
  const ending = overall === undefined ? caller : overall.signal;
  // What an attempt's endpoint gets without an attempt deadline. The caller's signal is linked to it
  // directly, not only through `overall` (whose clear() unlinks it), so that a returned value (a
  // streamed body) stays abortable by the caller after the call returns.
  let shared: AbortSignal | undefined = ending;
  if (overall !== undefined) {
    if (caller !== undefined) shared = AbortSignal.any([caller, overall.signal]);
    markBound(shared!, s.timeout);
  }
  const { retryResult, discard, shouldRetry, onAttempt } = s;
  let errors: unknown[] | undefined;
  // The endpoints tried so far: the first one alone, until a second attempt needs a set.
  let first: Endpoint<Req, Res> | undefined;
  let tried: Set<Endpoint<Req, Res>> | undefined;
  let kept = false;
  let keptResult: Res | undefined;
  try {
    for (let attempt = 1;; attempt++) {
      let error: unknown;
      const per = s.attemptTimeout === Infinity ? undefined : deadline(s.attemptTimeout, ending);
      let handle: CallHandle | undefined;
      let endpoint: Endpoint<Req, Res> | undefined;
      // Set from the attempt's start until its end is reported, so that it is reported once.
      let begun = false;
      let started = 0;
      try {
        if (first !== undefined && tried === undefined) tried = new Set([first]);
        endpoint = balancer.endpoint(tried);
        if (tried !== undefined) tried.add(endpoint);
        else if (s.attempts > 1) first = endpoint;
        let signal = shared;
        if (per !== undefined) {
          signal = caller === undefined ? per.signal : AbortSignal.any([caller, per.signal]);
          markBound(signal, Math.min(s.attemptTimeout, s.timeout));
        }
        if (balancer.begin !== undefined) handle = balancer.begin(endpoint);
        if (onAttempt !== undefined) started = s.now();
        begun = true;
        const pending = invoke(endpoint, call, signal);
        const watch = per === undefined ? ending : per.signal;
        const result = watch === undefined ? await pending : await untilAborted(pending, watch, discard);
        if (kept) discard?.(keptResult!);
        // Kept before retryResult runs, so that a throwing callback still gets it discarded.
        kept = true;
        keptResult = result;
        const retryable = retryResult !== undefined && retryResult(result);
        const outcome = retryable ? "retryable" : "success";
        begun = false;
        handle?.end(outcome, result);
        if (onAttempt !== undefined) report(s, attempt, endpoint, outcome, result, started);
        if (!retryable) {
          kept = false;
          return result;
        }
        error = new SdError(
          "ERR_RETRYABLE_RESULT",
          `Attempt ${attempt} returned a result marked for retry`,
        );
      } catch (thrown) {
        error = thrown;
        if (begun) {
          begun = false;
          const outcome = caller?.aborted ? "cancelled" : "error";
          handle?.end(outcome, thrown);
          if (onAttempt !== undefined) report(s, attempt, endpoint!, outcome, thrown, started);
        }
        if (kept) discard?.(keptResult!);
        kept = false;
      } finally {
        per?.clear();
      }
      if (ending?.aborted) {
        // The attempt in flight was cut short; the deadline is its error.
        if (!caller?.aborted) (errors ??= []).push(ending.reason);
        break;
      }
      (errors ??= []).push(error);
      let go = attempt < s.attempts;
      let final: unknown = error;
      if (shouldRetry !== undefined) {
        try {
          const decision = shouldRetry(attempt, error);
          // After the last attempt the answer may replace the error but never adds an attempt.
          if (typeof decision === "boolean") go = go && decision;
          else {
            go = go && Boolean(decision?.retry);
            if (!go && decision?.error !== undefined) final = decision.error;
          }
        } catch (thrown) {
          go = false;
          final = thrown;
        }
      }
      if (go && again !== undefined && !again(call)) go = false;
      if (!go) {
        if (kept && final === error) return keptResult!;
        // A kept result that is not returned must still be released (e.g. a response body).
        if (kept) discard?.(keptResult!);
        kept = false;
        throw new RetryError(errors, final);
      }
      if (s.backoff !== undefined) {
        try {
          await delay(backoffDelay(attempt, s.backoff, s.random), ending);
        } catch {
          break;
        }
      }
    }
    // The call's signal aborted: by the caller, or by the deadline.
    if (kept) discard?.(keptResult!);
    kept = false;
    if (caller?.aborted) throw caller.reason;
    throw new RetryError(errors ?? [], ending!.reason, true);
  } finally {
    overall?.clear();
  }
}

function report<Res>(
  s: RetrySettings<Res>,
  attempt: number,
  endpoint: Endpoint<never, Res>,
  outcome: CallOutcome,
  value: unknown,
  started: number,
): void {
  try {
    s.onAttempt!({ attempt, endpoint, outcome, value, duration: s.now() - started });
  } catch {
    // An observer must not change the call.
  }
}

/**
 * Settles like `promise`, or rejects with the signal's reason as soon as it aborts, even if the
 * endpoint ignores its signal. An abandoned value goes to `discard`; an abandoned error is swallowed.
 */
function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  discard: ((value: T) => void) | undefined,
): Promise<T> {
  const abandon = () => {
    promise.then((value) => discard?.(value), () => {});
  };
  if (signal.aborted) {
    abandon();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      abandon();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Retrying an endpoint call across the instances a balancer offers.
 *
 * @module
 */
import type { BackoffOptions } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "../_validate.ts";
import type { Endpoint, EndpointOptions } from "../types.ts";
import type { Balancer, CallOutcome } from "./balancer.ts";
import { DeadlineQueue } from "../_deadline_queue.ts";
import { type RetrySettings, runRetry } from "./_run_retry.ts";

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
 * and no caller's signal, endpoints get no signal and no timer is set; otherwise a controller per
 * finite deadline (the deadlines of calls in flight at once share one timer), and a combined signal
 * only when the caller's signal and a deadline must both reach the endpoint. Nothing is left behind
 * once the call settles.
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
    overall: timeout === Infinity ? undefined : new DeadlineQueue(timeout),
    perAttempt: attemptTimeout === Infinity ? undefined : new DeadlineQueue(attemptTimeout),
    shouldRetry,
    backoff,
    random,
    retryResult,
    discard,
    onAttempt,
    now,
  };
}

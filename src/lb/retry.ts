/**
 * Retrying an endpoint call across the instances a balancer offers.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions, deadline, delay } from "../_async.ts";
import { requireFunction, requireMethod, requireNumber, requireSignal } from "../_validate.ts";
import { RetryError, SdError } from "../errors.ts";
import type { Endpoint, EndpointOptions } from "../types.ts";
import type { Balancer, CallHandle } from "./balancer.ts";

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
}

const DEFAULT_BACKOFF: BackoffOptions = { initial: 10, max: 1000, multiplier: 2 };

/**
 * Wraps a balancer in an endpoint that retries failed calls on other instances (go-kit
 * `Retry`/`RetryWithCallback`, made cancellable). Each attempt asks the balancer for an endpoint,
 * preferring ones not yet tried in this call. Every attempt's signal aborts when the caller's signal
 * aborts (the call then rejects at once with the caller's reason, like `fetch`) or when the overall
 * deadline passes (the call then rejects with a {@linkcode RetryError} whose code is
 * `ERR_DEADLINE_EXCEEDED`). When attempts run out, the {@linkcode RetryError} lists every attempt's error.
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

  return async (request: Req, callOptions: EndpointOptions = {}): Promise<Res> => {
    const caller = callOptions.signal;
    requireSignal(caller, "signal");
    if (caller?.aborted) throw caller.reason;
    const overall = deadline(timeout, caller);
    const errors: unknown[] = [];
    const tried = new Set<Endpoint<Req, Res>>();
    let kept: { result: Res } | undefined;
    const drop = () => {
      if (kept !== undefined) discard?.(kept.result);
      kept = undefined;
    };
    try {
      for (let attempt = 1;; attempt++) {
        let error: unknown;
        const per = deadline(attemptTimeout, overall.signal);
        let handle: CallHandle | undefined;
        try {
          const endpoint = balancer.endpoint(tried);
          tried.add(endpoint);
          // Also linked to the caller directly: per.clear() unlinks it, yet a returned value (a streamed
          // body) must stay abortable by the caller after the call returns.
          const signal = caller === undefined ? per.signal : AbortSignal.any([caller, per.signal]);
          if (balancer.begin !== undefined) handle = balancer.begin(endpoint);
          const result = await untilAborted(endpoint(request, { signal }), per.signal, discard);
          drop();
          // Kept before retryResult runs, so that a throwing callback still gets it discarded.
          kept = { result };
          const retryable = retryResult !== undefined && retryResult(result);
          if (handle !== undefined) {
            const ending = handle;
            handle = undefined;
            ending.end(retryable ? "retryable" : "success", result);
          }
          if (!retryable) {
            kept = undefined;
            return result;
          }
          error = new SdError(
            "ERR_RETRYABLE_RESULT",
            `Attempt ${attempt} returned a result marked for retry`,
          );
        } catch (thrown) {
          error = thrown;
          handle?.end(caller?.aborted ? "cancelled" : "error", thrown);
          drop();
        } finally {
          per.clear();
        }
        if (overall.signal.aborted) {
          // The attempt in flight was cut short; the deadline is its error.
          if (!caller?.aborted) errors.push(overall.signal.reason);
          break;
        }
        errors.push(error);
        let go = attempt < attempts;
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
        if (!go) {
          if (kept !== undefined && final === error) return kept.result;
          // A kept result that is not returned must still be released (e.g. a response body).
          drop();
          throw new RetryError(errors, final);
        }
        if (backoff !== undefined) {
          try {
            await delay(backoffDelay(attempt, backoff, random), overall.signal);
          } catch {
            break;
          }
        }
      }
      // The overall signal aborted: by the caller, or by the deadline.
      drop();
      if (caller?.aborted) throw caller.reason;
      throw new RetryError(errors, overall.signal.reason, true);
    } finally {
      overall.clear();
    }
  };
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

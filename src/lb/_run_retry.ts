// The retry loop that `retry` and `balancedFetch` share: settings, the bare first attempt and the
// loop. Internal.
import { backoffDelay, type BackoffOptions, delay } from "../_async.ts";
import type { DeadlineQueue } from "../_deadline_queue.ts";
import { markBound } from "../_signal_bound.ts";
import { RetryError, SdError } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { Balancer, CallHandle, CallOutcome } from "./balancer.ts";
import type { AttemptEvent, RetryCallback } from "./retry.ts";

/** The validated options of a retrying call. Internal (shared with `balancedFetch`). */
export interface RetrySettings<Res> {
  /** Total attempts. */
  readonly attempts: number;
  /** Overall deadline in ms, or `Infinity`. */
  readonly timeout: number;
  /** Per-attempt deadline in ms, or `Infinity`. */
  readonly attemptTimeout: number;
  /** Hands out the overall deadlines, when `timeout` is finite. */
  readonly overall: DeadlineQueue | undefined;
  /** Hands out the attempt deadlines, when `attemptTimeout` is finite. */
  readonly perAttempt: DeadlineQueue | undefined;
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

/**
 * How the first attempt of a call made on the bare path ended, when it failed: the loop goes on
 * from there.
 */
interface FirstAttempt<Req, Res> {
  /** What it threw, or the error that stands for a retryable result. */
  readonly error: unknown;
  /** The endpoint it used; unset when the balancer had none. */
  readonly endpoint: Endpoint<Req, Res> | undefined;
  /** Whether `result` is a retryable result kept in case no later attempt does better. */
  readonly kept: boolean;
  /** The kept result. */
  readonly result: Res | undefined;
}

/**
 * Runs one retrying call. Allocates only what the call needs: a controller for a finite `timeout`
 * (its timer is shared: see {@linkcode DeadlineQueue}), a second one only for a finite
 * `attemptTimeout`, a combined signal only when the caller's signal and a deadline must both reach the
 * endpoint, and nothing at all without a deadline or a caller's signal. Internal (shared with
 * `balancedFetch`); the caller's signal is already validated.
 *
 * When nothing can cut an attempt short (no deadline, no caller's signal) and nothing listens (no
 * `begin`, no `onAttempt`), the first attempt runs bare, and the loop is entered only if it fails:
 * the same picks, calls and callbacks as the loop's first attempt, in less code on the way.
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
  if (
    caller !== undefined || s.timeout !== Infinity || s.attemptTimeout !== Infinity ||
    balancer.begin !== undefined || s.onAttempt !== undefined
  ) {
    return await retryLoop(balancer, s, call, caller, invoke, again, undefined);
  }
  let endpoint: Endpoint<Req, Res> | undefined;
  let result: Res;
  try {
    endpoint = balancer.endpoint(undefined);
    result = await invoke(endpoint, call, undefined);
  } catch (error) {
    const first = { error, endpoint, kept: false, result: undefined };
    return await retryLoop(balancer, s, call, caller, invoke, again, first);
  }
  const { retryResult } = s;
  if (retryResult === undefined) return result;
  let retryable: boolean;
  try {
    retryable = retryResult(result);
  } catch (error) {
    s.discard?.(result);
    const first = { error, endpoint, kept: false, result: undefined };
    return await retryLoop(balancer, s, call, caller, invoke, again, first);
  }
  if (!retryable) return result;
  const error = new SdError("ERR_RETRYABLE_RESULT", "Attempt 1 returned a result marked for retry");
  return await retryLoop(balancer, s, call, caller, invoke, again, { error, endpoint, kept: true, result });
}

/** The retry loop; with `firstAttempt`, attempt 1 has run already and ended so. */
async function retryLoop<Req, Res, Call>(
  balancer: Balancer<Req, Res>,
  s: RetrySettings<Res>,
  call: Call,
  caller: AbortSignal | undefined,
  invoke: Invoke<Req, Res, Call>,
  again: ((call: Call) => boolean) | undefined,
  firstAttempt: FirstAttempt<Req, Res> | undefined,
): Promise<Res> {
  if (caller?.aborted) throw caller.reason;
  const overall = s.overall?.start(caller);
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
      if (attempt === 1 && firstAttempt !== undefined) {
        error = firstAttempt.error;
        if (s.attempts > 1) first = firstAttempt.endpoint;
        kept = firstAttempt.kept;
        keptResult = firstAttempt.result;
      } else {
        const per = s.perAttempt?.start(ending);
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

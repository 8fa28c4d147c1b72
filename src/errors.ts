/**
 * Error classes shared by every area of the library.
 *
 * @module
 */

import { quote, redact } from "./_redact.ts";

const BRAND = Symbol.for("@edgekit/sd.error");

/**
 * DNS failure codes, the same strings Node's `dns` module uses, so code written against
 * `node:dns/promises` branches the same way on the edge.
 */
export type DnsErrorCode =
  | "ENOTFOUND"
  | "ENODATA"
  | "ESERVFAIL"
  | "EREFUSED"
  | "ETIMEOUT"
  | "EBADRESP"
  | "ECONNREFUSED"
  | "ECANCELLED"
  | "EFORMERR"
  | "ENOTIMP";

/** Stable codes carried by every {@linkcode SdError}. */
export type SdErrorCode =
  | DnsErrorCode
  | "ERR_NO_ENDPOINTS"
  | "ERR_RETRY_EXHAUSTED"
  | "ERR_DEADLINE_EXCEEDED"
  | "ERR_REGISTRY_UNAVAILABLE"
  | "ERR_REGISTRY_REJECTED"
  | "ERR_MALFORMED_RESPONSE"
  | "ERR_STOPPED"
  | "ERR_DISCOVERY"
  | "ERR_DISCOVERY_LOOP_ENDED"
  | "ERR_REGISTRATION"
  | "ERR_RETRYABLE_RESULT";

/** Options accepted by every {@linkcode SdError} constructor. */
export interface SdErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Base class of every error this library creates. Branch on {@linkcode SdError.code} (or use
 * {@linkcode isSdError} across realms) rather than on the message, which may change.
 *
 * @example Recognising a library error
 * ```ts
 * import { isSdError, NoEndpointsError } from "@edgekit/sd";
 *
 * const error: unknown = new NoEndpointsError();
 * if (isSdError(error) && error.code === "ERR_NO_ENDPOINTS") {
 *   // fall back to a cached answer, or return 503
 * }
 * ```
 */
export class SdError extends Error {
  /** A stable, machine-readable code. */
  readonly code: SdErrorCode;

  /**
   * Creates an error with a code.
   *
   * @param code The stable code.
   * @param message A human-readable message.
   * @param options The cause, if any.
   */
  constructor(code: SdErrorCode, message: string, options?: SdErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SdError";
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Returns whether a value is an {@linkcode SdError}, also when it was created by another copy of the
 * library (another bundle, realm or version).
 *
 * @param value Any value.
 * @returns `true` if `value` is an error created by this library.
 *
 * @example
 * ```ts
 * import { isSdError, SdError } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * assert(isSdError(new SdError("ERR_STOPPED", "Stopped")));
 * assert(!isSdError(new Error("x")));
 * ```
 */
export function isSdError(value: unknown): value is SdError {
  return typeof value === "object" && value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Thrown by a balancer when the endpointer has no endpoint to offer.
 *
 * @example
 * ```ts
 * import { FixedEndpointer } from "@edgekit/sd";
 * import { RoundRobinBalancer } from "@edgekit/sd/lb";
 * import { assert } from "@std/assert";
 *
 * const balancer = new RoundRobinBalancer(new FixedEndpointer([]));
 * try {
 *   balancer.endpoint();
 * } catch (error) {
 *   assert((error as Error).name === "NoEndpointsError");
 * }
 * ```
 */
export class NoEndpointsError extends SdError {
  /**
   * Creates the error.
   *
   * @param message Defaults to "No endpoints available".
   */
  constructor(message = "No endpoints available") {
    super("ERR_NO_ENDPOINTS", message);
    this.name = "NoEndpointsError";
  }
}

/**
 * Thrown by a retrying endpoint when no attempt succeeded. {@linkcode RetryError.errors} holds every
 * attempt's error in order; {@linkcode RetryError.final} is the error that ended the call (the last
 * attempt's error, a replacement chosen by the retry callback, or the deadline's `TimeoutError`).
 *
 * The code is `ERR_DEADLINE_EXCEEDED` when the overall deadline ended the call, else
 * `ERR_RETRY_EXHAUSTED`.
 */
export class RetryError extends SdError {
  /** Every attempt's error, oldest first. */
  readonly errors: readonly unknown[];
  /** The error that ended the call; also available as `cause`. */
  readonly final: unknown;

  /**
   * Creates the error.
   *
   * @param errors Every attempt's error, oldest first.
   * @param final The error that ended the call.
   * @param deadline Whether the overall deadline ended the call.
   */
  constructor(errors: readonly unknown[], final: unknown, deadline = false) {
    const head = deadline
      ? `Deadline exceeded after ${errors.length} attempt${errors.length === 1 ? "" : "s"}`
      : `All ${errors.length} attempt${errors.length === 1 ? "" : "s"} failed`;
    const list = errors.map((e, i) => `${i + 1}: ${describe(e)}`).join("; ");
    super(deadline ? "ERR_DEADLINE_EXCEEDED" : "ERR_RETRY_EXHAUSTED", list ? `${head} (${list})` : head, {
      cause: final,
    });
    this.name = "RetryError";
    this.errors = Object.freeze([...errors]);
    this.final = final;
  }
}

/** Raised when a registry cannot be reached or answers with a server error. */
export class RegistryUnavailableError extends SdError {
  /**
   * Creates the error.
   *
   * @param message What failed, naming the registry address.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: SdErrorOptions) {
    super("ERR_REGISTRY_UNAVAILABLE", message, options);
    this.name = "RegistryUnavailableError";
  }
}

/**
 * Raised when a registry understood a request and refused it (a 4xx answer: bad request, not found,
 * permission denied, compacted revision ...). `status` is the HTTP status; `detail` is the registry's
 * own error text.
 */
export class RegistryRejectedError extends SdError {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The registry's own error text, if it sent one. */
  readonly detail: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What was refused, naming the registry address.
   * @param status The HTTP status of the answer.
   * @param detail The registry's own error text, if any.
   * @param options The cause, if any.
   */
  constructor(message: string, status: number, detail?: string, options?: SdErrorOptions) {
    super("ERR_REGISTRY_REJECTED", message, options);
    this.name = "RegistryRejectedError";
    this.status = status;
    this.detail = detail;
  }
}

/** Raised when a registry answers with data the library cannot use. */
export class MalformedResponseError extends SdError {
  /**
   * Creates the error.
   *
   * @param message What was wrong, quoting the offending value.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: SdErrorOptions) {
    super("ERR_MALFORMED_RESPONSE", message, options);
    this.name = "MalformedResponseError";
  }
}

/** Raised when a stopped or closed object is asked to do work. */
export class StoppedError extends SdError {
  /**
   * Creates the error.
   *
   * @param what The object that was stopped, for the message.
   */
  constructor(what: string) {
    super("ERR_STOPPED", `${what} is stopped`);
    this.name = "StoppedError";
  }
}

// How workerd words its refusal of timers, fetch and random values outside a request handler.
const OUTSIDE_REQUEST = /global scope|Disallowed operation/i;

/**
 * The error event of an instancer whose discovery loop has ended for good: the loop threw (or
 * rejected) instead of reporting its failures and going on, so no further state will come. Unlike
 * other discovery errors it is not transient: the instancer must be replaced.
 *
 * {@linkcode DiscoveryLoopError.outsideRequest} tells the commonest cause apart: the runtime refused
 * timers or I/O outside a request, as Cloudflare Workers do for an instancer created at module scope.
 * Watch mode needs a long-lived host; on request-scoped hosts use pull mode (`PullInstancer`).
 *
 * @example
 * ```ts
 * import { DiscoveryLoopError, isSdError } from "@edgekit/sd";
 * import { assert } from "@std/assert";
 *
 * const cause = new Error("Disallowed operation called within global scope");
 * const error: unknown = new DiscoveryLoopError("ConsulInstancer", cause);
 * assert(isSdError(error) && error.code === "ERR_DISCOVERY_LOOP_ENDED");
 * assert(error instanceof DiscoveryLoopError && error.outsideRequest);
 * assert(error.message.startsWith("The discovery loop of ConsulInstancer ended and cannot restart"));
 * ```
 */
export class DiscoveryLoopError extends SdError {
  /** The class name of the instancer whose loop ended. */
  readonly instancer: string;
  /**
   * Whether the cause looks like the runtime refusing timers or I/O outside a request (workerd's
   * "Disallowed operation called within global scope").
   */
  readonly outsideRequest: boolean;

  /**
   * Creates the error.
   *
   * @param instancer The class name of the instancer, for the message.
   * @param cause What the loop threw; also available as `cause`.
   */
  constructor(instancer: string, cause: unknown) {
    const outsideRequest = causeChain(cause).some((e) => OUTSIDE_REQUEST.test(e.message));
    const quoted = cause instanceof Error ? quote(cause.message) : describe(cause);
    const hint = outsideRequest
      ? "; the runtime forbids timers and I/O outside a request handler (as Cloudflare Workers do at " +
        "module scope), so a watch-mode instancer cannot run there: use PullInstancer, which refreshes " +
        "inside requests"
      : "";
    super(
      "ERR_DISCOVERY_LOOP_ENDED",
      `The discovery loop of ${instancer} ended and cannot restart: ${quoted}${hint}`,
      { cause },
    );
    this.name = "DiscoveryLoopError";
    this.instancer = instancer;
    this.outsideRequest = outsideRequest;
  }
}

/** The error and its `cause`s, a few levels deep (a cycle or a long chain stops early). */
function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = error; e instanceof Error && chain.length < 5 && !chain.includes(e); e = e.cause) {
    chain.push(e);
  }
  return chain;
}

/**
 * Short, single-line description of any thrown value, for messages, with URL passwords and secret
 * values (tokens, authorization headers, passwords) redacted.
 */
export function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${redact(value.message)}`;
  if (typeof value === "string") return quote(value);
  if (Array.isArray(value) || isPlainObject(value)) {
    // Show the data itself ("[object Object]" says nothing), cut short for messages.
    try {
      const json = redact(JSON.stringify(value));
      return json.length > 120 ? `${json.slice(0, 117)}...` : json;
    } catch {
      // cycles, BigInts: fall through
    }
  }
  try {
    return redact(String(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

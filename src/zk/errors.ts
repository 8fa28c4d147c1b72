/**
 * ZooKeeper's error codes as an error class.
 *
 * @module
 */
import { SdError } from "../errors.ts";

/** ZooKeeper's error names (as in its Java client's `KeeperException.Code`), by wire number. */
export const ZK_ERROR_NAMES = {
  [-1]: "SYSTEMERROR",
  [-2]: "RUNTIMEINCONSISTENCY",
  [-3]: "DATAINCONSISTENCY",
  [-4]: "CONNECTIONLOSS",
  [-5]: "MARSHALLINGERROR",
  [-6]: "UNIMPLEMENTED",
  [-7]: "OPERATIONTIMEOUT",
  [-8]: "BADARGUMENTS",
  [-12]: "UNKNOWNSESSION",
  [-13]: "NEWCONFIGNOQUORUM",
  [-14]: "RECONFIGINPROGRESS",
  [-100]: "APIERROR",
  [-101]: "NONODE",
  [-102]: "NOAUTH",
  [-103]: "BADVERSION",
  [-108]: "NOCHILDRENFOREPHEMERALS",
  [-110]: "NODEEXISTS",
  [-111]: "NOTEMPTY",
  [-112]: "SESSIONEXPIRED",
  [-113]: "INVALIDCALLBACK",
  [-114]: "INVALIDACL",
  [-115]: "AUTHFAILED",
  [-118]: "SESSIONMOVED",
  [-119]: "NOTREADONLY",
  [-120]: "EPHEMERALONLOCALSESSION",
  [-121]: "NOWATCHER",
  [-122]: "REQUESTTIMEOUT",
  [-123]: "RECONFIGDISABLED",
  [-124]: "SESSIONCLOSEDREQUIRESASLAUTH",
  [-125]: "QUOTAEXCEEDED",
  [-127]: "THROTTLEDOP",
} as const;

/** A ZooKeeper error name, e.g. `"NONODE"`; `"UNKNOWN"` for a number this library does not know. */
export type ZkErrorName = (typeof ZK_ERROR_NAMES)[keyof typeof ZK_ERROR_NAMES] | "UNKNOWN";

const UNAVAILABLE = new Set<ZkErrorName>([
  "CONNECTIONLOSS",
  "SESSIONEXPIRED",
  "OPERATIONTIMEOUT",
  "SESSIONMOVED",
  "REQUESTTIMEOUT",
  "THROTTLEDOP",
]);

/**
 * A failed ZooKeeper operation: `zkCode` is ZooKeeper's error name (branch on it), `zkNumber` the wire
 * code. The library `code` is `ERR_REGISTRY_UNAVAILABLE` for connection and session trouble, else
 * `ERR_REGISTRY_REJECTED`.
 *
 * @example
 * ```ts
 * import { ZkError } from "./errors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const error = ZkError.fromNumber(-101, "getData", "/services/api");
 * assertEquals(error.zkCode, "NONODE");
 * assertEquals(error.code, "ERR_REGISTRY_REJECTED");
 * assertEquals(error.message, 'ZooKeeper getData "/services/api" failed: NONODE (-101)');
 * ```
 */
export class ZkError extends SdError {
  /** ZooKeeper's error name. */
  readonly zkCode: ZkErrorName;
  /** ZooKeeper's numeric error code (`0` when the failure is local, such as a timeout). */
  readonly zkNumber: number;
  /** The path the operation was on, if any. */
  readonly path: string | undefined;

  /**
   * Creates the error.
   *
   * @param zkCode ZooKeeper's error name.
   * @param zkNumber The wire code.
   * @param message The message.
   * @param path The path concerned.
   * @param cause The underlying error, if any.
   */
  constructor(zkCode: ZkErrorName, zkNumber: number, message: string, path?: string, cause?: unknown) {
    super(UNAVAILABLE.has(zkCode) ? "ERR_REGISTRY_UNAVAILABLE" : "ERR_REGISTRY_REJECTED", message, {
      cause,
    });
    this.name = "ZkError";
    this.zkCode = zkCode;
    this.zkNumber = zkNumber;
    this.path = path;
  }

  /**
   * The error for a wire code returned by an operation.
   *
   * @param n The wire code.
   * @param op The operation, for the message.
   * @param path The path, for the message.
   * @returns The error.
   */
  static fromNumber(n: number, op: string, path?: string): ZkError {
    const name: ZkErrorName = (ZK_ERROR_NAMES as Record<number, ZkErrorName>)[n] ?? "UNKNOWN";
    const where = path === undefined ? "" : ` ${JSON.stringify(path)}`;
    return new ZkError(name, n, `ZooKeeper ${op}${where} failed: ${name} (${n})`, path);
  }
}

/**
 * Whether a value is a {@linkcode ZkError} with the given name (also across copies of the library).
 *
 * @param value Any value.
 * @param zkCode The name to match; any ZooKeeper error when omitted.
 * @returns Whether it matches.
 *
 * @example
 * ```ts
 * import { isZkError, ZkError } from "./errors.ts";
 * import { assert } from "@std/assert";
 *
 * assert(isZkError(ZkError.fromNumber(-110, "create", "/a"), "NODEEXISTS"));
 * ```
 */
export function isZkError(value: unknown, zkCode?: ZkErrorName): value is ZkError {
  if (typeof value !== "object" || value === null) return false;
  const e = value as { name?: unknown; zkCode?: unknown };
  return e.name === "ZkError" && typeof e.zkCode === "string" &&
    (zkCode === undefined || e.zkCode === zkCode);
}

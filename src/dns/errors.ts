/**
 * DNS errors shaped like Node's.
 *
 * @module
 */
import { type DnsErrorCode, SdError } from "../errors.ts";

export type { DnsErrorCode };

/** Options for {@linkcode DnsError}. */
export interface DnsErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** The DoH server that answered or failed, if one is concerned. */
  server?: string;
}

/**
 * A DNS failure. `code` is Node's (`ENOTFOUND` for NXDOMAIN, `ENODATA` for a name without records of
 * the type, `ESERVFAIL`, `EREFUSED`, `ETIMEOUT`, `EBADRESP`, `ECONNREFUSED`, `ECANCELLED`), and so are
 * `syscall` (`querySrv`, `queryA` ...) and `hostname`, so handlers written for `node:dns/promises` work.
 *
 * @example
 * ```ts
 * import { DnsError } from "./errors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new DnsError("ENOTFOUND", "querySrv", "_http._tcp.gone.example");
 * assertEquals(error.message, "querySrv ENOTFOUND _http._tcp.gone.example");
 * ```
 */
export class DnsError extends SdError {
  /** The query kind, as Node names it: `querySrv`, `queryA`, `queryAaaa`, `queryCname`, `queryTxt`. */
  readonly syscall: string;
  /** The name that was looked up. */
  readonly hostname: string;
  /** The DoH server concerned, if any. */
  readonly server: string | undefined;

  /**
   * Creates the error.
   *
   * @param code Node's code.
   * @param syscall The query kind.
   * @param hostname The name looked up.
   * @param options The cause and server.
   * @param detail Extra words for the message.
   */
  constructor(
    code: DnsErrorCode,
    syscall: string,
    hostname: string,
    options: DnsErrorOptions = {},
    detail?: string,
  ) {
    super(code, `${syscall} ${code} ${hostname}${detail ? `: ${detail}` : ""}`, { cause: options.cause });
    this.name = "DnsError";
    this.syscall = syscall;
    this.hostname = hostname;
    this.server = options.server;
  }
}

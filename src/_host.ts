// Formatting instance strings; internal, re-exported by the package root.

/**
 * Joins a host and a port into an instance string, bracketing IPv6 literals (`[::1]:8080`), as
 * Go's net.JoinHostPort does; an already bracketed host is left as it is.
 *
 * @param host A host name, IPv4 address or IPv6 address (bare or bracketed).
 * @param port The port.
 * @returns `host:port`.
 *
 * @example
 * ```ts
 * import { joinHostPort } from "@edgekit/sd";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(joinHostPort("10.0.0.1", 80), "10.0.0.1:80");
 * assertEquals(joinHostPort("::1", 80), "[::1]:80");
 * ```
 */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

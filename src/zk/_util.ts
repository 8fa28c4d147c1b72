// Server lists, path checks and ACL helpers for the ZooKeeper client. Internal (re-exported in part).
import type { InstanceInput } from "../_event.ts";
import { MalformedResponseError } from "../errors.ts";
import type { Logger } from "../types.ts";
import type { ZkCallOptions, ZkClient } from "./client.ts";
import type { ZkAcl } from "./_jute.ts";
import type { ZkWatcher } from "./_session.ts";
import { isZkError } from "./errors.ts";

/** Permission bits of an ACL entry. */
export const ZkPerms = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

/** Anyone may do anything (ZooKeeper's `OPEN_ACL_UNSAFE`). */
export const OPEN_ACL_UNSAFE: readonly ZkAcl[] = Object.freeze([{
  perms: 31,
  scheme: "world",
  id: "anyone",
}]);

/** Anyone may read. */
export const READ_ACL_UNSAFE: readonly ZkAcl[] = Object.freeze([{ perms: 1, scheme: "world", id: "anyone" }]);

/** Everything for the identities the creating session authenticated as (ZooKeeper's `CREATOR_ALL_ACL`). */
export const CREATOR_ALL_ACL: readonly ZkAcl[] = Object.freeze([{ perms: 31, scheme: "auth", id: "" }]);

/**
 * The ACL entry that grants `perms` to a digest user: id `user:base64(sha1("user:password"))`.
 *
 * @param username The user.
 * @param password The password.
 * @param perms Permission bits. Default: all.
 * @returns The entry.
 *
 * @example
 * ```ts
 * import { digestAcl } from "./_util.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const acl = await digestAcl("user", "secret");
 * assertEquals(acl.scheme, "digest");
 * assertEquals(acl.id.startsWith("user:"), true);
 * ```
 */
export async function digestAcl(
  username: string,
  password: string,
  perms: number = ZkPerms.ALL,
): Promise<ZkAcl> {
  if (typeof username !== "string" || username === "" || username.includes(":")) {
    throw new TypeError(`username must be a non-empty string without ":", got ${JSON.stringify(username)}`);
  }
  if (typeof password !== "string") throw new TypeError(`password must be a string, got ${typeof password}`);
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-1", new TextEncoder().encode(`${username}:${password}`)),
  );
  let bin = "";
  for (const b of hash) bin += String.fromCharCode(b);
  return { perms, scheme: "digest", id: `${username}:${btoa(bin)}` };
}

/** Parses `host:port,host:port` (or an array); port 2181 by default; IPv6 as `[addr]:port`. */
export function parseServers(servers: string | readonly string[]): { host: string; port: number }[] {
  const list = typeof servers === "string" ? servers.split(",") : servers;
  if (!Array.isArray(list) && typeof servers !== "string") {
    throw new TypeError(`servers must be a string or an array of strings, got ${typeof servers}`);
  }
  const out: { host: string; port: number }[] = [];
  for (const raw of list) {
    if (typeof raw !== "string") throw new TypeError(`servers must hold strings, got ${typeof raw}`);
    const entry = raw.trim();
    if (entry === "") continue;
    if (entry.includes("/")) throw new TypeError(`A chroot is not supported, got ${JSON.stringify(entry)}`);
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::(\d+))?$/.exec(entry);
    const port = m?.[3] === undefined ? 2181 : Number(m[3]);
    if (m === null || port < 1 || port > 65535) {
      throw new TypeError(`Bad ZooKeeper server ${JSON.stringify(entry)}: use host:port`);
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  if (out.length === 0) {
    throw new TypeError(`servers must name at least one server, got ${JSON.stringify(servers)}`);
  }
  return out;
}

/** Throws a TypeError unless `path` is an absolute ZooKeeper path (a trailing `/` only if allowed). */
export function validatePath(path: unknown, trailingSlash: boolean): void {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new TypeError(`A ZooKeeper path must start with "/", got ${JSON.stringify(path)}`);
  }
  if (path === "/") return;
  const parts = path.split("/").slice(1);
  if (trailingSlash && parts[parts.length - 1] === "") parts.pop();
  for (const part of parts) {
    if (part === "" || part === "." || part === ".." || part.includes("\u0000")) {
      throw new TypeError(`Bad ZooKeeper path ${JSON.stringify(path)}: empty, "." or ".." component`);
    }
  }
}

const decoder = new TextDecoder();

/**
 * The instances under a service node, as the instancer and the pull lookup publish them: the data of
 * each child (trimmed UTF-8) is an instance string, the child's name its `id`. A child removed between
 * the listing and its read is left out (with a watch, the watch fires for it); one with empty data is
 * skipped with a warning. A child name no node can have (`""`, `.`, `..`, or one with `/` or NUL: a
 * broken or hostile server) is skipped with a warning too; if the listing holds nothing else, that is
 * a MalformedResponseError.
 */
export async function readInstances(
  client: ZkClient,
  path: string,
  options: { call: ZkCallOptions; watch?: ZkWatcher | undefined; logger?: Logger | undefined },
): Promise<InstanceInput[]> {
  const { call, watch, logger } = options;
  const listed = await client.getChildren(path, watch === undefined ? call : { ...call, watch });
  const children = listed.filter((child) => {
    if (!badChild(child)) return true;
    logger?.warn("ZooKeeper child with an impossible name skipped", { path, child: JSON.stringify(child) });
    return false;
  });
  if (children.length === 0 && listed.length > 0) {
    throw new MalformedResponseError(
      `ZooKeeper listed only impossible child names under ${JSON.stringify(path)}: ${
        listed.slice(0, 5).map((c) => JSON.stringify(c)).join(", ")
      }`,
    );
  }
  const datas = await Promise.all(children.map(async (child) => {
    try {
      return (await client.getData(`${path === "/" ? "" : path}/${child}`, call)).data;
    } catch (error) {
      if (isZkError(error, "NONODE")) return undefined; // removed since the listing
      throw error;
    }
  }));
  const out: InstanceInput[] = [];
  children.forEach((child, i) => {
    const data = datas[i];
    if (data === undefined) return;
    const instance = decoder.decode(data).trim();
    if (instance === "") {
      logger?.warn("ZooKeeper child with empty data skipped", { path, child });
      return;
    }
    out.push({ instance, id: child });
  });
  return out;
}

/** Whether a name from a children listing cannot name a child node. */
function badChild(name: string): boolean {
  return name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\u0000");
}

/**
 * ZooKeeper from anywhere with a TCP socket: Deno, Bun and Cloudflare Workers out of the box
 * (adapters loaded on first use), Node and others through a `connect` option. A session-keeping
 * client, an Instancer over a service node's children, a one-shot lookup that opens and closes its
 * own session for a `PullInstancer` (pull mode, for hosts that refresh inside a request), and a
 * Registrar that keeps a protected ephemeral sequential node.
 *
 * ```ts ignore
 * import { ZkClient, ZkInstancer, ZkRegistrar } from "@edgekit/sd/zk";
 *
 * await using client = new ZkClient("127.0.0.1:2181,127.0.0.1:2182");
 * const registrar = new ZkRegistrar(client, { path: "/services/api", instance: "10.0.0.1:8080" });
 * await registrar.register();
 * using instancer = new ZkInstancer(client, "/services/api");
 * for await (const event of instancer) {
 *   // event.instances is ["10.0.0.1:8080"]
 *   break;
 * }
 * await registrar.deregister();
 * ```
 *
 * @module
 */
export {
  type ZkAcl,
  type ZkCallOptions,
  ZkClient,
  type ZkClientOptions,
  type ZkCreateMode,
  type ZkCreateOptions,
  type ZkStat,
  type ZkVersionOptions,
  type ZkWatchOptions,
} from "./client.ts";
export {
  ZkSessionEvent,
  type ZkSessionEventType,
  type ZkWatcher,
  type ZkWatchEvent,
  type ZkWatchType,
} from "./_session.ts";
export { isZkError, ZK_ERROR_NAMES, ZkError, type ZkErrorName } from "./errors.ts";
export { CREATOR_ALL_ACL, digestAcl, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, ZkPerms } from "./_util.ts";
export {
  detectConnect,
  fromWorkersConnect,
  type WorkersConnectFunction,
  type WorkersSocket,
  type ZkConnect,
  type ZkConnectOptions,
  type ZkSocket,
} from "./socket.ts";
export { ZkInstancer, type ZkInstancerOptions } from "./instancer.ts";
export { zkLookup, type ZkLookupOptions } from "./pull.ts";
export type { Lookup, LookupOptions, LookupResult } from "../pull_instancer.ts";
export { ZkRegistrar, type ZkRegistrarOptions } from "./registrar.ts";
export type { BackoffOptions } from "../_async.ts";
export type { InstanceInput } from "../_event.ts";
export type { Logger } from "../types.ts";

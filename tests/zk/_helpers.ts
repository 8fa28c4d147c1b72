// Shared helpers for the ZooKeeper unit tests.
import { ZkClient, type ZkClientOptions } from "../../src/zk/client.ts";
import { denoConnect } from "../../src/zk/socket_deno.ts";
import type { DiscoveryEvent, Instancer } from "../../src/types.ts";

/** A client for the fake server: Deno sockets, first server first, no jitter. */
export function client(servers: string | string[], options: ZkClientOptions = {}): ZkClient {
  return new ZkClient(servers, { connect: denoConnect, random: () => 0, timeout: 5_000, ...options });
}

/** The next event of `type` dispatched by `target`. */
export function next<T extends Event>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) => target.addEventListener(type, (e) => resolve(e as T), { once: true }));
}

/** Collects an instancer's events; `until(n)` waits for the n-th. */
export function collect(instancer: Instancer): { events: DiscoveryEvent[]; until(n: number): Promise<void> } {
  const events: DiscoveryEvent[] = [];
  const waiters: [number, () => void][] = [];
  instancer.subscribe((e) => {
    events.push(e);
    for (const [n, w] of waiters) if (events.length >= n) w();
  });
  return {
    events,
    until: (n) => events.length >= n ? Promise.resolve() : new Promise((r) => waiters.push([n, r])),
  };
}

/** What an event shows: the instances joined, or the error's message. */
export function show(e: DiscoveryEvent): string {
  return e.error ? `error: ${e.error.message}` : e.instances.join(",");
}

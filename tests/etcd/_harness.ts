// Shared set-up for the EtcdInstancer and EtcdRegistrar tests: fake time, the fake gateway, a client
// on it, and event recorders. Every run ends by stopping what it started and checking that no timer
// and no watch stream is left.
import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { FakeEtcd } from "../_fakes/etcd.ts";
import { EtcdClient, type EtcdClientOptions } from "../../src/etcd/client.ts";
import { EtcdInstancer, type EtcdInstancerOptions } from "../../src/etcd/instancer.ts";
import { EtcdRegistrar, type EtcdRegistrarOptions } from "../../src/etcd/registrar.ts";
import type { DiscoveryEvent, Logger } from "../../src/types.ts";
import { registrarEvents } from "../_helpers.ts";

export const MEMBER = "http://a.test:2379";
/** The registrar tests' key, value and the first two lease IDs the fake grants. */
export const KEY = "/svc/10.0.0.1:8080";
export const VALUE = "10.0.0.1:8080";
export const L1 = "7587869127315596296";
export const L2 = "7587869127315596297";

/** One line per event: `[a,b]` for instances, `error:<name>` for a failure. */
export function summary(event: DiscoveryEvent): string {
  return event.error !== undefined ? `error:${event.error.name}` : `[${event.instances.join(",")}]`;
}

/** A logger that keeps every line as `level message`. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => void lines.push(`debug ${m}`),
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  };
}

/** What a test body gets. */
export interface InstancerRun {
  clock: InstalledClock;
  fake: FakeEtcd;
  client: EtcdClient;
  instancer: EtcdInstancer;
  /** Every event delivered to one subscriber, summarised. */
  events: string[];
  /** `start_revision` of every watch request sent, in order. */
  starts: () => (string | undefined)[];
  /** `Date.now()` of every request to `path`. */
  times: (path: string) => number[];
}

/**
 * Runs `body` on fake time (from 0) with an instancer on `/svc/` over `fake`, random fixed at 0.5.
 * Afterwards stops it and asserts that no timer and no open watch is left.
 */
export async function withInstancer(
  fake: FakeEtcd,
  options: EtcdInstancerOptions,
  body: (run: InstancerRun) => Promise<void>,
  clientOptions: Partial<EtcdClientOptions> = {},
): Promise<void> {
  const clock = fakeTime(0);
  let instancer: EtcdInstancer | undefined;
  try {
    const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch, ...clientOptions });
    instancer = new EtcdInstancer(client, "/svc/", { random: () => 0.5, ...options });
    const events: string[] = [];
    instancer.subscribe((event) => void events.push(summary(event)));
    await body({
      clock,
      fake,
      client,
      instancer,
      events,
      starts: () =>
        fake.calls("/watch").map((r) =>
          (r.body["create_request"] as Record<string, unknown>)["start_revision"] as string | undefined
        ),
      times: (path) => fake.calls(path).map((r) => r.at),
    });
    instancer.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
    assert.deepStrictEqual(fake.openWatches().length, 0, "no watch stream left open after stop()");
  } finally {
    instancer?.stop();
    clock.uninstall();
  }
}

/** What a registrar test body gets. */
export interface RegistrarRun {
  clock: InstalledClock;
  fake: FakeEtcd;
  client: EtcdClient;
  registrar: EtcdRegistrar;
  /** `registered`, `reregistered`, `deregistered` and `error:<name>`, in order. */
  events: string[];
  /** `Date.now()` of every request to `path`. */
  times: (path: string) => number[];
}

/** Runs `body` on fake time with a registrar (ttl 3 s, so keep-alives every 950 ms with random 0.5). */
export async function withRegistrar(
  options: Partial<EtcdRegistrarOptions>,
  body: (run: RegistrarRun) => Promise<void>,
  fake = new FakeEtcd(),
): Promise<void> {
  const clock = fakeTime(0);
  let registrar: EtcdRegistrar | undefined;
  try {
    const client = new EtcdClient({ endpoints: [MEMBER], fetch: fake.fetch });
    registrar = new EtcdRegistrar(client, { key: KEY, value: VALUE, ttl: 3, random: () => 0.5, ...options });
    const events = registrarEvents(registrar, VALUE);
    await body({
      clock,
      fake,
      client,
      registrar,
      events,
      times: (path) => fake.calls(path).map((r) => r.at),
    });
    registrar.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
  } finally {
    registrar?.stop();
    clock.uninstall();
  }
}

// Shared set-up for the Eureka unit tests: fake time, the fake server, a client on it, an instancer,
// registry or registrar over them, and recorders. Every run ends by stopping what it started and
// checking that no timer is left.
import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { FakeEureka } from "../_fakes/eureka.ts";
import { EurekaClient, type EurekaClientOptions } from "../../src/eureka/client.ts";
import { EurekaInstancer, type EurekaInstancerOptions } from "../../src/eureka/instancer.ts";
import { EurekaRegistrar, type EurekaRegistrarOptions } from "../../src/eureka/registrar.ts";
import { EurekaRegistry, type EurekaRegistryOptions } from "../../src/eureka/registry.ts";
import type { DiscoveryEvent, Instancer, Logger } from "../../src/types.ts";
import { registrarEvents } from "../_helpers.ts";

export const SERVER = "http://a.test:8761/eureka";

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

/** Subscribes and keeps every event summarised, and every event whole. */
export function record(instancer: Instancer): { events: string[]; raw: DiscoveryEvent[] } {
  const events: string[] = [];
  const raw: DiscoveryEvent[] = [];
  instancer.subscribe((event) => {
    events.push(summary(event));
    raw.push(event);
  });
  return { events, raw };
}

/** What an instancer test body gets. */
export interface InstancerRun {
  clock: InstalledClock;
  fake: FakeEureka;
  client: EurekaClient;
  instancer: EurekaInstancer;
  events: string[];
  raw: DiscoveryEvent[];
  /** `Date.now()` of every request to `route`. */
  times: (route: string) => number[];
}

/**
 * Runs `body` on fake time (from 0) with an instancer for USERS (interval 1,000 ms, random 0, so polls
 * come exactly every second) over `fake`. Afterwards stops it and asserts that no timer is left.
 */
export async function withInstancer(
  fake: FakeEureka,
  options: EurekaInstancerOptions,
  body: (run: InstancerRun) => Promise<void>,
  clientOptions: Partial<EurekaClientOptions> = {},
): Promise<void> {
  const clock = fakeTime(0);
  let instancer: EurekaInstancer | undefined;
  try {
    const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch, ...clientOptions });
    instancer = new EurekaInstancer(client, "users", { interval: 1000, random: () => 0, ...options });
    const { events, raw } = record(instancer);
    await body({
      clock,
      fake,
      client,
      instancer,
      events,
      raw,
      times: (route) => fake.calls(route).map((r) => r.at),
    });
    instancer.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
  } finally {
    instancer?.stop();
    clock.uninstall();
  }
}

/** What a registry test body gets. */
export interface RegistryRun {
  clock: InstalledClock;
  fake: FakeEureka;
  client: EurekaClient;
  registry: EurekaRegistry;
  /** The routes of every request, in order, e.g. `GET /apps`, `GET /apps/delta`. */
  routes: () => string[];
}

/** Runs `body` on fake time with a registry (interval 1,000 ms, random 0) over `fake`. */
export async function withRegistry(
  fake: FakeEureka,
  options: EurekaRegistryOptions,
  body: (run: RegistryRun) => Promise<void>,
): Promise<void> {
  const clock = fakeTime(0);
  let registry: EurekaRegistry | undefined;
  try {
    const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch });
    registry = new EurekaRegistry(client, { interval: 1000, random: () => 0, ...options });
    await body({ clock, fake, client, registry, routes: () => fake.requests.map((r) => r.route) });
    registry.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
  } finally {
    registry?.stop();
    clock.uninstall();
  }
}

/** What a registrar test body gets. */
export interface RegistrarRun {
  clock: InstalledClock;
  fake: FakeEureka;
  client: EurekaClient;
  registrar: EurekaRegistrar;
  /** `registered`, `reregistered`, `deregistered` and `error:<name>`, in order. */
  events: string[];
  /** `Date.now()` of every request to `route`. */
  times: (route: string) => number[];
}

/** The registrar tests' instance: USERS on 10.0.0.1:8080, id `10.0.0.1:users:8080`. */
export const INSTANCE = "10.0.0.1:8080";
export const ID = "10.0.0.1:users:8080";
export const BEAT = `PUT /apps/USERS/${ID}`;

/**
 * Runs `body` on fake time with a registrar (renewal 10 s, random 0.5, so heartbeats every 9,500 ms).
 * Afterwards stops it and asserts that no timer is left.
 */
export async function withRegistrar(
  options: Partial<EurekaRegistrarOptions>,
  body: (run: RegistrarRun) => Promise<void>,
  fake = new FakeEureka(),
): Promise<void> {
  const clock = fakeTime(0);
  let registrar: EurekaRegistrar | undefined;
  try {
    const client = new EurekaClient({ urls: SERVER, fetch: fake.fetch });
    registrar = new EurekaRegistrar(client, {
      app: "users",
      ipAddr: "10.0.0.1",
      port: 8080,
      renewalIntervalInSecs: 10,
      durationInSecs: 30,
      random: () => 0.5,
      ...options,
    });
    const events = registrarEvents(registrar, registrar.instance);
    await body({
      clock,
      fake,
      client,
      registrar,
      events,
      times: (route) => fake.calls(route).map((r) => r.at),
    });
    registrar.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
  } finally {
    registrar?.stop();
    clock.uninstall();
  }
}

// Shared set-up for the Consul unit tests: a fake agent, fake time, an instancer or registrar over
// them, and checks that nothing is left running or unread afterwards.
import { assert, fakeTime, type InstalledClock } from "../_deps.ts";
import { FakeConsul } from "../_fakes/consul.ts";
import { ConsulClient, type ConsulClientOptions } from "../../src/consul/client.ts";
import { ConsulInstancer, type ConsulInstancerOptions } from "../../src/consul/instancer.ts";
import { ConsulRegistrar, type ConsulRegistrarOptions } from "../../src/consul/registrar.ts";
import type { ConsulServiceRegistration } from "../../src/consul/registration.ts";
import type { DiscoveryEvent } from "../../src/types.ts";
import { registrarEvents } from "../_helpers.ts";

/** `[a,b]` for instances, `error:<name>` for a failure. */
export function summary(event: DiscoveryEvent): string {
  return event.error !== undefined ? `error:${event.error.name}` : `[${event.instances.join(",")}]`;
}

/** A service entry for the fake: `api-<n>` on 10.0.0.<n>:8080, passing. */
export function api(n: number, extra: Partial<Parameters<FakeConsul["put"]>[0]> = {}) {
  return {
    id: `api-${n}`,
    name: "api",
    address: `10.0.0.${n}`,
    port: 8080,
    checks: [{ id: `service:api-${n}`, status: "passing" as const, ttl: "15s" }],
    ...extra,
  };
}

export interface InstancerContext {
  clock: InstalledClock;
  consul: FakeConsul;
  client: ConsulClient;
  instancer: ConsulInstancer;
  /** Every event, summarised, in order. */
  events: string[];
  /** Every error event's error, in order. */
  errors: Error[];
  /** `index` and `wait` of every health query, as `"-"` when absent: e.g. `"12/60000ms"`. */
  queries(): string[];
  /** Arrival times of the health queries. */
  times(): number[];
}

/**
 * Runs `body` on fake time with an instancer for service `api` over a fake agent; then stops it and
 * checks that no timer, parked query or unread body is left.
 */
export async function withInstancer(
  setup: {
    consul?: FakeConsul;
    options?: ConsulInstancerOptions;
    client?: ConsulClientOptions;
    service?: string;
  },
  body: (ctx: InstancerContext) => Promise<void>,
): Promise<void> {
  const clock = fakeTime(0);
  let instancer: ConsulInstancer | undefined;
  try {
    const consul = setup.consul ?? new FakeConsul();
    const client = new ConsulClient({ fetch: consul.fetch, ...setup.client });
    instancer = new ConsulInstancer(client, setup.service ?? "api", { random: () => 0.5, ...setup.options });
    const events: string[] = [];
    const errors: Error[] = [];
    instancer.subscribe((e) => {
      events.push(summary(e));
      if (e.error !== undefined) errors.push(e.error);
    });
    const health = () => consul.healthRequests();
    await body({
      clock,
      consul,
      client,
      instancer,
      events,
      errors,
      queries: () =>
        health().map((r) =>
          `${r.url.searchParams.get("index") ?? "-"}/${r.url.searchParams.get("wait") ?? "-"}`
        ),
      times: () => health().map((r) => r.at),
    });
    instancer.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
    assert.equal(consul.parked, 0, "no blocking query left open");
    assert.equal(consul.openBodies, 0, "every response body read or cancelled");
  } finally {
    instancer?.stop();
    clock.uninstall();
  }
}

/** The registration most registrar tests use: a TTL check of 15 s. */
export const SERVICE: ConsulServiceRegistration = {
  name: "api",
  address: "10.0.0.7",
  port: 8080,
  checks: [{ ttl: 15_000, deregisterCriticalServiceAfter: 60_000 }],
};

export interface RegistrarContext {
  clock: InstalledClock;
  consul: FakeConsul;
  registrar: ConsulRegistrar;
  /** `registered`, `error:<name>`, ... in order. */
  events: string[];
  /** `METHOD path@time` of every request. */
  calls(): string[];
}

/**
 * Runs `body` on fake time with a registrar for {@linkcode SERVICE} (or `registration`) over a fake
 * agent; then stops it and checks that no timer or unread body is left.
 */
export async function withRegistrar(
  setup: { registration?: ConsulServiceRegistration; options?: ConsulRegistrarOptions; consul?: FakeConsul },
  body: (ctx: RegistrarContext) => Promise<void>,
): Promise<void> {
  const clock = fakeTime(0);
  let registrar: ConsulRegistrar | undefined;
  try {
    const consul = setup.consul ?? new FakeConsul();
    const client = new ConsulClient({ fetch: consul.fetch });
    registrar = new ConsulRegistrar(client, setup.registration ?? SERVICE, {
      random: () => 0.5,
      ...setup.options,
    });
    const events = registrarEvents(registrar);
    await body({
      clock,
      consul,
      registrar,
      events,
      calls: () => consul.requests.map((r) => `${r.method} ${decodeURIComponent(r.path)}@${r.at}`),
    });
    registrar.stop();
    await clock.tickAsync(0);
    assert.equal(clock.countTimers(), 0, "no timer left after stop()");
    assert.equal(consul.openBodies, 0, "every response body read or cancelled");
  } finally {
    registrar?.stop();
    clock.uninstall();
  }
}

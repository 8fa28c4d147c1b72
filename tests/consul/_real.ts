// Helpers for the suites that talk to a real Consul agent (tests/integration/consul_*_test.ts): unique
// names, bounded waits on instancer events, and agent calls the library does not make (failing or
// warning a TTL check by hand, restarting the agent).
import { serverScript } from "../integration/_server.ts";
import type { DiscoveryEvent, Instancer } from "../../src/types.ts";

/** A service name no other run or test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The base URL of the agent at `address` (`host:port` or a URL). */
export function baseUrl(address: string): string {
  return (/^https?:\/\//.test(address) ? address : `http://${address}`).replace(/\/$/, "");
}

/** `[a,b]` or `error:<name>`. */
export function summary(event: DiscoveryEvent | undefined): string {
  if (event === undefined) return "(none)";
  return event.error !== undefined ? `error:${event.error.name}` : `[${event.instances.join(",")}]`;
}

/**
 * Resolves with the first event (the current state included) that satisfies `predicate`; rejects
 * after `ms` with the last event seen.
 */
export function until(
  instancer: Instancer,
  predicate: (event: DiscoveryEvent) => boolean,
  what: string,
  ms = 20_000,
): Promise<DiscoveryEvent> {
  return new Promise((resolve, reject) => {
    let last: DiscoveryEvent | undefined;
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`Timed out after ${ms} ms waiting for ${what}; last event ${summary(last)}`));
    }, ms);
    const subscription = instancer.subscribe((event) => {
      last = event;
      if (predicate(event)) {
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(event);
      }
    });
  });
}

/** Settles as `promise` does, or rejects after `ms`; the timer never outlives the call. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Instances of an event, or none for an error. */
export function instancesOf(event: DiscoveryEvent): string[] {
  return event.error === undefined ? event.instances : [];
}

/** Sets a TTL check's status by hand (`pass`, `warn` or `fail`), as an operator or a probe would. */
export async function setCheck(
  address: string,
  checkId: string,
  status: "pass" | "warn" | "fail",
): Promise<void> {
  const response = await fetch(`${baseUrl(address)}/v1/agent/check/${status}/${checkId}`, {
    method: "PUT",
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${status} ${checkId}: HTTP ${response.status} ${text}`);
}

/** Runs `bash scripts/servers/consul.sh <command>` (same environment), failing with its output. */
export async function consulScript(command: "restart" | "status"): Promise<void> {
  await serverScript("consul", command);
}

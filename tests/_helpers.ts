// Small test doubles shared by the core's tests.
import { assert } from "./_deps.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../src/registrar.ts";
import type { DiscoveryEvent, Factory, Logger } from "../src/types.ts";

/** A logger that records every call. */
export function recordingLogger(): {
  records: { level: string; message: string; data: Record<string, unknown> | undefined }[];
  logger: Logger;
} {
  const records: { level: string; message: string; data: Record<string, unknown> | undefined }[] = [];
  const at = (level: string) => (message: string, data?: Record<string, unknown>) =>
    void records.push({ level, message, data });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { records, logger };
}

/** A factory that records what it made and closed; endpoints answer with their instance. */
export function tracking(): { made: string[]; closed: string[]; factory: Factory<string, string> } {
  const made: string[] = [];
  const closed: string[] = [];
  const factory: Factory<string, string> = (instance) => {
    made.push(instance);
    return {
      endpoint: (req) => Promise.resolve(`${instance} ${req}`),
      close: () => void closed.push(instance),
    };
  };
  return { made, closed, factory };
}

/** A listener that records the events it gets. */
export function recorder(): { events: DiscoveryEvent[]; listener: (event: DiscoveryEvent) => void } {
  const events: DiscoveryEvent[] = [];
  return { events, listener: (event: DiscoveryEvent) => void events.push(event) };
}

/** Counts the abort listeners added to and removed from a signal. */
export function spySignal(signal: AbortSignal): { added: number; removed: number } {
  const counts = { added: 0, removed: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => (counts.added++, add(...args));
  signal.removeEventListener = (...args: Parameters<typeof remove>) => (counts.removed++, remove(...args));
  return counts;
}

/**
 * Records a registrar's events as `registered`, `reregistered`, `deregistered` and `error:<name>`.
 * With `instance`, each lifecycle event must name it; without, each event must be of the library's
 * event classes.
 */
export function registrarEvents(registrar: EventTarget, instance?: string): string[] {
  const events: string[] = [];
  for (const type of ["registered", "reregistered", "deregistered"]) {
    registrar.addEventListener(type, (e) => {
      if (instance !== undefined) assert.equal((e as RegistrarEvent).instance, instance);
      else assert.ok(e instanceof RegistrarEvent);
      events.push(type);
    });
  }
  registrar.addEventListener("error", (e) => {
    if (instance === undefined) assert.ok(e instanceof RegistrarErrorEvent);
    events.push(`error:${((e as RegistrarErrorEvent).error as Error).name}`);
  });
  return events;
}

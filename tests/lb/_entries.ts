// Helpers for balancer tests over detailed entries: a swappable endpointer and pick counting.
import type { EndpointEntry } from "../../src/_endpoint_cache.ts";
import type { DetailedEndpointer } from "../../src/lb/rfc2782.ts";
import type { Endpoint, InstanceDetails } from "../../src/types.ts";

export type Entry = EndpointEntry<unknown, string>;
export type Ep = Endpoint<unknown, string>;

/** An entry whose endpoint resolves to its instance string. */
export function entry(instance: string, details: InstanceDetails = {}): Entry {
  return { instance, details, endpoint: () => Promise.resolve(instance) };
}

/** Entries named by instance, all with the given details. */
export function entries(names: string[], details: InstanceDetails = {}): Entry[] {
  return names.map((name) => entry(name, details));
}

/** An endpointer whose entries the test swaps; `entries()` keeps its identity until then. */
export function endpointerOf(list: Entry[]): {
  endpointer: DetailedEndpointer<unknown, string> & { endpoints(): readonly Ep[] };
  set(next: Entry[]): void;
} {
  let current: readonly Entry[] = list;
  let endpoints: readonly Ep[] = list.map((e) => e.endpoint);
  return {
    endpointer: { entries: () => current, endpoints: () => endpoints },
    set(next) {
      current = next;
      endpoints = next.map((e) => e.endpoint);
    },
  };
}

/** The instance an endpoint belongs to, searched in `all`. */
export function nameOf(all: readonly Entry[], endpoint: Ep): string {
  const found = all.find((e) => e.endpoint === endpoint);
  if (found === undefined) throw new Error("Endpoint not in the entries");
  return found.instance;
}

/** Makes `count` picks and returns the instance names in order. */
export function picks(pick: () => Ep, all: readonly Entry[], count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(nameOf(all, pick()));
  return out;
}

/** Counts of each name. */
export function tally(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

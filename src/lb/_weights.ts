// Weight helpers shared by the weighted and least-request balancers; internal.
import type { EndpointEntry } from "../_endpoint_cache.ts";
import { SlowStart, type SlowStartOptions } from "./slow_start.ts";

/** Normalises a `slowStart` option. */
export function toSlowStart(
  option: SlowStart | SlowStartOptions | boolean | undefined,
): SlowStart | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return new SlowStart();
  if (option instanceof SlowStart) return option;
  if (typeof option !== "object" || option === null) {
    throw new TypeError(
      `options.slowStart must be a SlowStart, its options or a boolean, got ${String(option)}`,
    );
  }
  return new SlowStart(option);
}

/** Weights with 0 replaced: 1/100 of the smallest positive weight, or 1 for all if none is positive. */
export function effectiveWeights<Req, Res>(entries: readonly EndpointEntry<Req, Res>[]): number[] {
  let min = Infinity;
  for (const e of entries) {
    const w = e.details.weight ?? 1;
    if (w > 0 && w < min) min = w;
  }
  const zero = min === Infinity ? 1 : min / 100;
  return entries.map((e) => {
    const w = e.details.weight ?? 1;
    return w > 0 ? w : zero;
  });
}

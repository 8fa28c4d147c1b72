// Building the query strings of health requests, and checking the options that shape them; internal.
import { requireNumber } from "../_validate.ts";
import type { ConsulHealthOptions } from "./client.ts";

/**
 * Checks the options that shape a health query, throwing TypeError/RangeError naming the bad value.
 * Instancers call it up front so that a bad option fails the constructor, not the first request.
 */
export function checkHealthOptions(options: ConsulHealthOptions): void {
  const tagMode = options.tagMode ?? "filter";
  if (tagMode !== "filter" && tagMode !== "param") {
    throw new TypeError(`options.tagMode must be "filter" or "param", got ${JSON.stringify(tagMode)}`);
  }
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string" || t === "")) {
    throw new TypeError(`options.tags must be an array of non-empty strings, got ${JSON.stringify(tags)}`);
  }
  if (options.filter !== undefined && (typeof options.filter !== "string" || options.filter.trim() === "")) {
    throw new TypeError(`options.filter must be a non-empty string, got ${JSON.stringify(options.filter)}`);
  }
  const consistency = options.consistency ?? "default";
  if (consistency !== "default" && consistency !== "stale" && consistency !== "consistent") {
    throw new TypeError(
      `options.consistency must be "default", "stale" or "consistent", got ${JSON.stringify(consistency)}`,
    );
  }
  requireNumber(options.index ?? 0, "options.index", { integer: true });
  checkCached(options.cached, consistency);
  if (options.wait !== undefined) {
    requireNumber(options.wait, "options.wait", { min: 1 });
    if (options.wait > 600_000) {
      throw new RangeError(`options.wait must be at most 600000 (10 min), got ${options.wait}`);
    }
  }
}

/** The query string of a health request. */
export function healthQuery(options: ConsulHealthOptions): URLSearchParams {
  checkHealthOptions(options);
  const query = new URLSearchParams();
  const tagMode = options.tagMode ?? "filter";
  const tags = options.tags ?? [];
  const index = options.index ?? 0;
  if (options.passing === true) query.set("passing", "1");
  if (tagMode === "param") { for (const tag of tags) query.append("tag", tag); }
  const filter = tagFilter(tagMode === "filter" ? tags : [], options.filter);
  if (filter !== undefined) query.set("filter", filter);
  if (options.consistency !== undefined && options.consistency !== "default") {
    query.set(options.consistency, "");
  }
  if (options.cached !== undefined && options.cached !== false) query.set("cached", "");
  if (index > 0) {
    query.set("index", String(index));
    if (options.wait !== undefined) query.set("wait", `${Math.ceil(options.wait)}ms`);
  }
  return query;
}

function checkCached(cached: ConsulHealthOptions["cached"], consistency: string): void {
  if (cached === undefined || cached === false) return;
  if (cached !== true) {
    if (typeof cached !== "object" || cached === null || Array.isArray(cached)) {
      throw new TypeError(
        `options.cached must be a boolean or { maxAge?, staleIfError? }, got ${JSON.stringify(cached)}`,
      );
    }
    if (cached.maxAge !== undefined) requireNumber(cached.maxAge, "options.cached.maxAge");
    if (cached.staleIfError !== undefined) {
      requireNumber(cached.staleIfError, "options.cached.staleIfError");
    }
  }
  // Consul answers this combination with an error: a cache cannot confirm leadership.
  if (consistency === "consistent") {
    throw new TypeError('options.cached cannot be combined with consistency "consistent"');
  }
}

/**
 * `"a" in Service.Tags and "b" in Service.Tags`, and-ed with a user filter. JSON string syntax is what
 * Consul's filter language accepts for quoted values.
 */
export function tagFilter(tags: readonly string[], filter?: string): string | undefined {
  const parts = tags.map((tag) => `${JSON.stringify(tag)} in Service.Tags`);
  if (filter !== undefined) parts.push(parts.length === 0 ? filter : `(${filter})`);
  return parts.length === 0 ? undefined : parts.join(" and ");
}

/** A path segment: percent-encoded, but `:` kept readable (check IDs are `service:<id>`), as Go does. */
export function segment(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ":");
}

// Normalising, comparing and copying discovery events; internal.
import { setOwn } from "./_record.ts";
import { describe, SdError } from "./errors.ts";
import type { DiscoveryEvent, HealthStatus, InstanceDetails, InstancesEvent } from "./types.ts";

/** One instance as a backend or caller supplies it: a bare string, or a string with details. */
export type InstanceInput = string | ({ readonly instance: string } & InstanceDetails);

const STATUSES: ReadonlySet<string> = new Set<HealthStatus>(["passing", "warning", "critical", "unknown"]);
const EMPTY_DETAILS: InstanceDetails = Object.freeze({});

const READ_ONLY: PropertyDescriptorMap = {
  set: { value: (key: string) => readOnly(`set ${JSON.stringify(key)}`) },
  delete: { value: (key: string) => readOnly(`delete ${JSON.stringify(key)}`) },
  clear: { value: () => readOnly("clear them") },
};

function readOnly(what: string): never {
  throw new TypeError(`Instance details are read-only (tried to ${what})`);
}

/**
 * Makes a details map read-only, so that every listener can share one: its mutators become own,
 * non-enumerable methods that throw. It stays a plain Map to everything that reads it.
 */
function seal(map: Map<string, InstanceDetails>): ReadonlyMap<string, InstanceDetails> {
  return Object.defineProperties(map, READ_ONLY);
}

/** Frozen empty details, shared. */
export { EMPTY_DETAILS };

function freezeDetails(input: InstanceDetails, where: string): InstanceDetails {
  const out: {
    weight?: number;
    priority?: number;
    tags?: readonly string[];
    meta?: Readonly<Record<string, string>>;
    zone?: string;
    status?: HealthStatus;
    id?: string;
  } = {};
  const { weight, priority, tags, meta, zone, status, id } = input;
  if (weight !== undefined) {
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) {
      throw new RangeError(`${where}: weight must be a finite number >= 0, got ${describe(weight)}`);
    }
    out.weight = weight;
  }
  if (priority !== undefined) {
    if (typeof priority !== "number" || !Number.isFinite(priority)) {
      throw new RangeError(`${where}: priority must be a finite number, got ${describe(priority)}`);
    }
    out.priority = priority;
  }
  if (tags !== undefined) {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
      throw new TypeError(`${where}: tags must be an array of strings, got ${describe(tags)}`);
    }
    out.tags = Object.freeze([...tags]);
  }
  if (meta !== undefined) {
    if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
      throw new TypeError(`${where}: meta must be an object of strings, got ${describe(meta)}`);
    }
    const copy: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== "string") {
        throw new TypeError(`${where}: meta[${JSON.stringify(k)}] must be a string, got ${describe(v)}`);
      }
      setOwn(copy, k, v);
    }
    out.meta = Object.freeze(copy);
  }
  if (zone !== undefined) {
    if (typeof zone !== "string") {
      throw new TypeError(`${where}: zone must be a string, got ${describe(zone)}`);
    }
    out.zone = zone;
  }
  if (status !== undefined) {
    if (!STATUSES.has(status)) {
      throw new TypeError(
        `${where}: status must be one of ${[...STATUSES].join(", ")}, got ${describe(status)}`,
      );
    }
    out.status = status;
  }
  if (id !== undefined) {
    if (typeof id !== "string") throw new TypeError(`${where}: id must be a string, got ${describe(id)}`);
    out.id = id;
  }
  return Object.keys(out).length === 0 ? EMPTY_DETAILS : Object.freeze(out);
}

/**
 * Validates and normalises a list of instances into a sorted, duplicate-free instances event with frozen
 * details. The first occurrence of a duplicated instance string wins. Throws TypeError/RangeError naming
 * the bad entry; nothing is half-applied because the caller only swaps state on success.
 */
export function normalizeInstances(
  list: Iterable<InstanceInput>,
  where = "instances",
  previous?: InstancesEvent,
): InstancesEvent {
  if (
    list === null || typeof list !== "object" ||
    typeof (list as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(`${where} must be an iterable of instances, got ${describe(list)}`);
  }
  const names: string[] = [];
  const found: InstanceDetails[] = [];
  // Strictly increasing input (the usual case: registries sort) needs no de-duplication map.
  let increasing = true;
  let index = 0;
  for (const entry of list) {
    // The position ("instances[3]") is formatted only when needed: per entry it is a visible share
    // of a 10,000-instance update.
    const at = index++;
    let instance: unknown;
    let details = EMPTY_DETAILS;
    if (typeof entry === "string") {
      instance = entry;
    } else if (typeof entry === "object" && entry !== null) {
      instance = entry.instance;
      if (typeof instance === "string" && instance !== "") {
        // Unchanged details keep their previous (validated, frozen) object: no re-validation, no
        // allocation, and identity comparisons downstream.
        const before = previous?.details.get(instance);
        details = before !== undefined && sameAsInput(before, entry)
          ? before
          : freezeDetails(entry, `${where}[${at}]`);
      }
    } else {
      throw new TypeError(
        `${where}[${at}] must be a string or an object with an instance, got ${describe(entry)}`,
      );
    }
    if (typeof instance !== "string" || instance === "") {
      throw new TypeError(`${where}[${at}] must name a non-empty instance string, got ${describe(instance)}`);
    }
    if (increasing && names.length > 0 && !(instance > names[names.length - 1]!)) increasing = false;
    names.push(instance);
    found.push(details);
  }
  const details = new Map<string, InstanceDetails>();
  if (increasing) {
    // Unchanged details already carry their previous object (see the loop above).
    for (let i = 0; i < names.length; i++) if (found[i] !== EMPTY_DETAILS) details.set(names[i]!, found[i]!);
    return { instances: names, details: seal(details) };
  }
  const seen = new Map<string, InstanceDetails>();
  for (let i = 0; i < names.length; i++) if (!seen.has(names[i]!)) seen.set(names[i]!, found[i]!);
  let instances = [...seen.keys()];
  if (!isSorted(instances)) instances = sortWithHint(instances, seen, previous?.instances);
  for (const [instance, d] of seen) if (d !== EMPTY_DETAILS) details.set(instance, d);
  return { instances, details: seal(details) };
}

/** Turns any thrown value into a failure event with an Error. */
export function failure(error: unknown): DiscoveryEvent {
  return {
    error: error instanceof Error
      ? error
      : new SdError("ERR_DISCOVERY", `Discovery failed: ${describe(error)}`, { cause: error }),
  };
}

/** Code-unit order, like Go's sort.Strings; locale-independent and stable across runtimes. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts `list` (the keys of `seen`). With the previous sorted list, only the new instances are sorted
 * and merged with the survivors in their known order: under churn that is a few hundred comparisons
 * instead of a full sort of thousands of strings. The default sort is used because it orders strings by
 * code unit, exactly like compareStrings, with no comparator call per comparison.
 */
function sortWithHint(
  list: string[],
  seen: ReadonlyMap<string, unknown>,
  previous?: readonly string[],
): string[] {
  if (previous === undefined || previous.length === 0) return list.sort();
  const before = new Set(previous);
  const added = list.filter((i) => !before.has(i));
  if (added.length * 4 > list.length) return list.sort();
  added.sort();
  const kept = previous.filter((i) => seen.has(i));
  const out = new Array<string>(kept.length + added.length);
  let a = 0;
  let k = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = k < kept.length && (a >= added.length || kept[k]! < added[a]!) ? kept[k++]! : added[a++]!;
  }
  return out;
}

function isSorted(list: readonly string[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1]! > list[i]!) return false;
  return true;
}

function sameArray(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameMeta(a: InstanceDetails["meta"], b: InstanceDetails["meta"]): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * Whether caller input carries exactly the values of already validated details. Shapes are checked
 * as strictly as validation would (arrays are arrays, meta a plain object), so a match can skip it.
 */
function sameAsInput(before: InstanceDetails, input: InstanceDetails): boolean {
  const { tags, meta } = input;
  return before.weight === input.weight && before.priority === input.priority && before.zone === input.zone &&
    before.status === input.status && before.id === input.id &&
    (tags === undefined ? before.tags === undefined : Array.isArray(tags) && sameArray(before.tags, tags)) &&
    (meta === undefined
      ? before.meta === undefined
      : typeof meta === "object" && meta !== null && !Array.isArray(meta) && sameMeta(before.meta, meta));
}

/** Deep equality of two details objects. */
export function sameDetails(a: InstanceDetails, b: InstanceDetails): boolean {
  return a === b || (
    a.weight === b.weight && a.priority === b.priority && a.zone === b.zone && a.status === b.status &&
    a.id === b.id && sameArray(a.tags, b.tags) && sameMeta(a.meta, b.meta)
  );
}

function sameError(a: Error, b: Error): boolean {
  return a === b || (
    a.constructor === b.constructor && a.name === b.name && a.message === b.message &&
    (a as { code?: unknown }).code === (b as { code?: unknown }).code
  );
}

/**
 * Whether two events carry the same state: same sorted instances with equal details, or errors of the
 * same class, name, code and message (so a repeated identical failure is not re-sent).
 */
export function sameEvent(a: DiscoveryEvent, b: DiscoveryEvent): boolean {
  if (a.error !== undefined || b.error !== undefined) {
    return a.error !== undefined && b.error !== undefined && sameError(a.error, b.error);
  }
  if (!sameArray(a.instances, b.instances)) return false;
  if (a.details === b.details) return true;
  for (const instance of a.instances) {
    if (!sameDetails(a.details.get(instance) ?? EMPTY_DETAILS, b.details.get(instance) ?? EMPTY_DETAILS)) {
      return false;
    }
  }
  return true;
}

/**
 * A listener's own copy: a fresh instances array. The details map is read-only and its objects are
 * frozen, so they are shared rather than copied (copying them per listener dominated fan-out).
 */
export function copyEvent(event: DiscoveryEvent): DiscoveryEvent {
  if (event.error !== undefined) return event;
  return { instances: event.instances.slice(), details: event.details };
}

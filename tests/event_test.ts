// The internal event helpers: normalising and validating instances, equality, per-listener copies.
import { assert } from "./_deps.ts";
import {
  compareStrings,
  copyEvent,
  EMPTY_DETAILS,
  failure,
  normalizeInstances,
  sameDetails,
  sameEvent,
} from "../src/_event.ts";
import { type DiscoveryEvent, type InstanceDetails, SdError } from "../mod.ts";

Deno.test("normalizeInstances sorts by code unit, de-duplicates and never touches its input", () => {
  const input = ["b:9", "a:10", "B:1", "a:9", "b:9"];
  const event = normalizeInstances(input);
  assert.deepEqual(event.instances, ["B:1", "a:10", "a:9", "b:9"], "byte order, like Go's sort.Strings");
  assert.deepEqual(input, ["b:9", "a:10", "B:1", "a:9", "b:9"]);
  assert.equal(event.details.size, 0);

  const sorted = ["a", "b"];
  assert.notEqual(normalizeInstances(sorted).instances, sorted, "always a fresh array");
  assert.deepEqual(normalizeInstances(new Set(["y", "x"])).instances, ["x", "y"]);
  assert.deepEqual(
    normalizeInstances((function* () {
      yield "2";
      yield { instance: "1" };
    })()).instances,
    ["1", "2"],
  );
  assert.deepEqual(normalizeInstances([]), { instances: [], details: new Map() });
  assert.deepEqual(["b", "a", "a"].sort(compareStrings), ["a", "a", "b"]);
});

Deno.test("normalizeInstances keeps the first details of a duplicate and freezes copies", () => {
  const tags = ["blue"];
  const meta: Record<string, string> = { version: "1" };
  const event = normalizeInstances([
    { instance: "a", weight: 1, priority: -2, tags, meta, zone: "eu-1", status: "warning", id: "svc-a" },
    { instance: "a", weight: 9 },
    { instance: "b" },
    { instance: "c", weight: undefined, tags: undefined } as never, // as plain JS may pass them
  ]);
  assert.deepEqual(event.instances, ["a", "b", "c"]);
  const a = event.details.get("a")!;
  assert.deepEqual(a, {
    weight: 1,
    priority: -2,
    tags: ["blue"],
    meta: { version: "1" },
    zone: "eu-1",
    status: "warning",
    id: "svc-a",
  });
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.tags) && Object.isFrozen(a.meta));
  tags.push("red");
  meta["version"] = "2";
  assert.deepEqual([a.tags, a.meta], [["blue"], { version: "1" }], "copied, not shared with the input");
  assert.equal(event.details.has("b"), false, "no entry for an instance without details");
  assert.equal(event.details.has("c"), false, "undefined fields are no details");
  assert.deepEqual(Object.keys(a).sort(), ["id", "meta", "priority", "status", "tags", "weight", "zone"]);
});

Deno.test("normalizeInstances rejects bad input, naming the entry and the value", async (t) => {
  const cases: [string, unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    ["a number list", 5, TypeError, "where must be an iterable of instances, got 5"],
    ["a string", "a:1", TypeError, 'where must be an iterable of instances, got "a:1"'],
    ["a plain object", { a: 1 }, TypeError, 'where must be an iterable of instances, got {"a":1}'],
    ["null entry", [null], TypeError, "where[0] must be a string or an object with an instance, got null"],
    [
      "boolean entry",
      ["a", true],
      TypeError,
      "where[1] must be a string or an object with an instance, got true",
    ],
    [
      "empty instance",
      [{ instance: "" }],
      TypeError,
      'where[0] must name a non-empty instance string, got ""',
    ],
    [
      "numeric instance",
      [{ instance: 80 }],
      TypeError,
      "where[0] must name a non-empty instance string, got 80",
    ],
    [
      "infinite weight",
      [{ instance: "a", weight: Infinity }],
      RangeError,
      "where[0]: weight must be a finite number >= 0, got Infinity",
    ],
    [
      "string weight",
      [{ instance: "a", weight: "2" }],
      RangeError,
      'where[0]: weight must be a finite number >= 0, got "2"',
    ],
    [
      "NaN priority",
      [{ instance: "a", priority: NaN }],
      RangeError,
      "where[0]: priority must be a finite number, got NaN",
    ],
    [
      "string tags",
      [{ instance: "a", tags: "x" }],
      TypeError,
      'where[0]: tags must be an array of strings, got "x"',
    ],
    [
      "numeric tag",
      [{ instance: "a", tags: ["x", 1] }],
      TypeError,
      'where[0]: tags must be an array of strings, got ["x",1]',
    ],
    [
      "array meta",
      [{ instance: "a", meta: ["x"] }],
      TypeError,
      'where[0]: meta must be an object of strings, got ["x"]',
    ],
    [
      "null meta",
      [{ instance: "a", meta: null }],
      TypeError,
      "where[0]: meta must be an object of strings, got null",
    ],
    [
      "numeric meta value",
      [{ instance: "a", meta: { port: 80 } }],
      TypeError,
      'where[0]: meta["port"] must be a string, got 80',
    ],
    ["numeric zone", [{ instance: "a", zone: 1 }], TypeError, "where[0]: zone must be a string, got 1"],
    [
      "unknown status",
      [{ instance: "a", status: "UP" }],
      TypeError,
      'where[0]: status must be one of passing, warning, critical, unknown, got "UP"',
    ],
    ["numeric id", [{ instance: "a", id: 7 }], TypeError, "where[0]: id must be a string, got 7"],
  ];
  for (const [name, input, ErrorClass, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => normalizeInstances(input as never, "where"), (e: unknown) => {
        assert.equal((e as Error).constructor, ErrorClass);
        assert.equal((e as Error).message, message);
        return true;
      });
    });
  }
  assert.throws(() => normalizeInstances([7 as never]), { message: /^instances\[0\] must be/ });
});

Deno.test("failure keeps an Error as it is and wraps anything else", () => {
  const error = new RangeError("x");
  assert.equal(failure(error).error, error);
  const wrapped = failure({ status: 503 }).error as SdError;
  assert.ok(wrapped instanceof SdError);
  assert.equal(wrapped.code, "ERR_DISCOVERY");
  assert.equal(wrapped.message, 'Discovery failed: {"status":503}');
  assert.deepEqual(wrapped.cause, { status: 503 });
  assert.equal(failure(undefined).error!.message, "Discovery failed: undefined");
});

function without(details: InstanceDetails, key: keyof InstanceDetails): InstanceDetails {
  const copy = { ...details };
  delete copy[key];
  return copy;
}

Deno.test("sameDetails compares every field deeply", () => {
  const base: InstanceDetails = {
    weight: 1,
    priority: 0,
    tags: ["a", "b"],
    meta: { x: "1", y: "2" },
    zone: "z",
    status: "passing",
    id: "i",
  };
  assert.equal(sameDetails(base, base), true);
  assert.equal(sameDetails(base, { ...base, tags: ["a", "b"], meta: { y: "2", x: "1" } }), true);
  const different: InstanceDetails[] = [
    { ...base, weight: 2 },
    { ...base, priority: 1 },
    { ...base, tags: ["b", "a"] },
    { ...base, tags: ["a"] },
    without(base, "tags"),
    { ...base, meta: { x: "1", z: "2" } },
    { ...base, meta: { x: "1" } },
    without(base, "meta"),
    { ...base, zone: "other" },
    { ...base, status: "critical" },
    { ...base, id: "j" },
  ];
  for (const other of different) {
    assert.equal(sameDetails(base, other), false, JSON.stringify(other));
    assert.equal(sameDetails(other, base), false, JSON.stringify(other));
  }
  assert.equal(sameDetails({}, EMPTY_DETAILS), true);
});

Deno.test("sameEvent treats equal sets and equal errors as the same state", () => {
  const set = (list: string[], details: [string, InstanceDetails][] = []): DiscoveryEvent => ({
    instances: list,
    details: new Map(details),
  });
  assert.equal(sameEvent(set(["a", "b"]), set(["a", "b"])), true);
  assert.equal(sameEvent(set(["a", "b"]), set(["a"])), false);
  assert.equal(sameEvent(set(["a", "b"]), set(["a", "c"])), false);
  assert.equal(sameEvent(set(["a"], [["a", { weight: 1 }]]), set(["a"], [["a", { weight: 1 }]])), true);
  assert.equal(sameEvent(set(["a"], [["a", { weight: 1 }]]), set(["a"])), false);
  assert.equal(sameEvent(set(["a"], [["a", {}]]), set(["a"])), true, "empty details equal none");
  const shared = new Map([["a", { zone: "z" }]]);
  assert.equal(sameEvent({ instances: ["a"], details: shared }, { instances: ["a"], details: shared }), true);

  const boom = { error: new Error("boom") };
  assert.equal(sameEvent(boom, boom), true);
  assert.equal(sameEvent(boom, { error: new Error("boom") }), true);
  assert.equal(sameEvent(boom, { error: new Error("bang") }), false);
  assert.equal(sameEvent(boom, { error: new TypeError("boom") }), false);
  const renamed = new Error("boom");
  renamed.name = "Other";
  assert.equal(sameEvent(boom, { error: renamed }), false);
  assert.equal(
    sameEvent({ error: new SdError("ERR_DISCOVERY", "x") }, { error: new SdError("ERR_STOPPED", "x") }),
    false,
  );
  assert.equal(sameEvent(boom, set([])), false);
  assert.equal(sameEvent(set([]), boom), false);
});

Deno.test("copyEvent gives a fresh array but shares the read-only details map and errors", () => {
  const event = normalizeInstances(["b", { instance: "a", weight: 1 }]);
  const copy = copyEvent(event);
  assert.deepEqual(copy, event);
  assert.notEqual(copy.instances, event.instances);
  assert.equal(copy.details, event.details);
  const details = copy.details as Map<string, unknown>;
  assert.throws(() => details.set("c", {}), /Instance details are read-only \(tried to set "c"\)/);
  assert.throws(() => details.delete("a"), /read-only \(tried to delete "a"\)/);
  assert.throws(() => details.clear(), /read-only \(tried to clear them\)/);
  assert.deepEqual([...event.details.keys()], ["a"]);
  copy.instances!.pop();
  assert.deepEqual(event.instances, ["a", "b"]);
  const failed = { error: new Error("x") };
  assert.equal(copyEvent(failed), failed);
});

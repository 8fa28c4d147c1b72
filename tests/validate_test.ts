// The internal argument checks: the error class and a message that shows the bad value.
import { assert } from "./_deps.ts";
import {
  requireFunction,
  requireMethod,
  requireNumber,
  requireSignal,
  requireString,
} from "../src/_validate.ts";

Deno.test("requireFunction accepts functions and shows what it got otherwise", () => {
  requireFunction(() => {}, "f");
  requireFunction(class {}, "f");
  const cases: [unknown, string][] = [
    ["x", 'f must be a function, got "x"'],
    [[], "f must be a function, got an array"],
    [{}, "f must be a function, got an object"],
    [null, "f must be a function, got null"],
    [undefined, "f must be a function, got undefined"],
    [3, "f must be a function, got 3"],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => requireFunction(value, "f"), new TypeError(message));
  }
});

Deno.test("requireMethod wants an object with that method", () => {
  requireMethod({ subscribe() {} }, "subscribe", "instancer");
  assert.throws(
    () => requireMethod({ subscribe: 1 }, "subscribe", "instancer"),
    new TypeError("instancer must have a subscribe() method, got an object"),
  );
  assert.throws(
    () => requireMethod(() => {}, "subscribe", "instancer"),
    new TypeError("instancer must have a subscribe() method, got a function"),
  );
  assert.throws(
    () => requireMethod(undefined, "stop", "x"),
    new TypeError("x must have a stop() method, got undefined"),
  );
});

Deno.test("requireNumber checks type, minimum, integrality and finiteness", () => {
  assert.equal(requireNumber(0, "n"), 0);
  assert.equal(requireNumber(2.5, "n", { min: 2 }), 2.5);
  assert.equal(requireNumber(Infinity, "n", { finite: false }), Infinity);
  assert.equal(requireNumber(-5, "n", { min: -10, integer: true }), -5);
  const cases: [unknown, Parameters<typeof requireNumber>[2], Error][] = [
    ["1", {}, new TypeError('n must be a number, got "1"')],
    [NaN, {}, new TypeError("n must be a number, got NaN")],
    [undefined, {}, new TypeError("n must be a number, got undefined")],
    [-1, {}, new RangeError("n must be a finite number >= 0, got -1")],
    [Infinity, {}, new RangeError("n must be a finite number >= 0, got Infinity")],
    [-Infinity, { finite: false }, new RangeError("n must be a finite number >= 0, got -Infinity")],
    [1.5, { integer: true, min: 1 }, new RangeError("n must be an integer >= 1, got 1.5")],
    [0, { integer: true, min: 1 }, new RangeError("n must be an integer >= 1, got 0")],
  ];
  for (const [value, options, expected] of cases) {
    assert.throws(() => requireNumber(value, "n", options), expected);
  }
});

Deno.test("requireSignal accepts undefined or an AbortSignal only", () => {
  requireSignal(undefined);
  requireSignal(new AbortController().signal);
  assert.throws(() => requireSignal(null), new TypeError("signal must be an AbortSignal, got null"));
  assert.throws(
    () => requireSignal(new AbortController(), "options.signal"),
    new TypeError("options.signal must be an AbortSignal, got an object"),
  );
});

Deno.test("requireString wants a non-empty string and returns it", () => {
  assert.equal(requireString("users", "service"), "users");
  assert.throws(
    () => requireString("", "service"),
    new TypeError('service must be a non-empty string, got ""'),
  );
  assert.throws(
    () => requireString(7, "service"),
    new TypeError("service must be a non-empty string, got 7"),
  );
});

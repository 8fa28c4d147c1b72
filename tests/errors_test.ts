// Error classes, codes, the cross-realm guard and message formatting.
import { assert } from "./_deps.ts";
import {
  isSdError,
  MalformedResponseError,
  NoEndpointsError,
  RegistryUnavailableError,
  RetryError,
  SdError,
  StoppedError,
} from "../mod.ts";
import { describe } from "../src/errors.ts";

Deno.test("SdError carries a code, a message, and a cause only when given", () => {
  const plain = new SdError("ERR_DISCOVERY", "Lookup failed");
  assert.ok(plain instanceof Error);
  assert.equal(plain.name, "SdError");
  assert.equal(plain.code, "ERR_DISCOVERY");
  assert.equal(plain.message, "Lookup failed");
  assert.equal(Object.hasOwn(plain, "cause"), false);

  const root = new Error("socket hang up");
  assert.equal(new SdError("ERR_DISCOVERY", "Lookup failed", { cause: root }).cause, root);
  assert.equal(Object.hasOwn(new SdError("ERR_DISCOVERY", "x", {}), "cause"), false);
  assert.equal(new SdError("ERR_DISCOVERY", "x", { cause: 0 }).cause, 0, "a falsy cause is kept");
});

Deno.test("isSdError recognises library errors, also from another copy of the library", () => {
  for (
    const error of [
      new SdError("ERR_STOPPED", "x"),
      new NoEndpointsError(),
      new RetryError([], undefined),
      new RegistryUnavailableError("x"),
      new MalformedResponseError("x"),
      new StoppedError("x"),
    ]
  ) {
    assert.equal(isSdError(error), true, error.name);
    const brand = Object.getOwnPropertyDescriptor(error, Symbol.for("@edgekit/sd.error"));
    assert.deepEqual([brand?.value, brand?.enumerable], [true, false], "a hidden brand");
  }
  // Another realm or bundle: a different class, same global brand.
  const foreign = Object.defineProperty(new Error("x"), Symbol.for("@edgekit/sd.error"), { value: true });
  assert.equal(isSdError(foreign), true);
  for (const value of [new Error("x"), { code: "ERR_STOPPED" }, null, undefined, "ERR_STOPPED", 42]) {
    assert.equal(isSdError(value), false, String(value));
  }
  const forged = Object.defineProperty({}, Symbol.for("@edgekit/sd.error"), { value: "yes" });
  assert.equal(isSdError(forged), false, "the brand must be exactly true");
});

Deno.test("Each error subclass has its name and code", () => {
  const cause = new TypeError("fetch failed");
  const cases: [SdError, string, string, string, unknown][] = [
    [new NoEndpointsError(), "NoEndpointsError", "ERR_NO_ENDPOINTS", "No endpoints available", undefined],
    [
      new NoEndpointsError('No endpoints for "users"'),
      "NoEndpointsError",
      "ERR_NO_ENDPOINTS",
      'No endpoints for "users"',
      undefined,
    ],
    [
      new RegistryUnavailableError("Consul at 127.0.0.1:8500 refused", { cause }),
      "RegistryUnavailableError",
      "ERR_REGISTRY_UNAVAILABLE",
      "Consul at 127.0.0.1:8500 refused",
      cause,
    ],
    [
      new MalformedResponseError('Bad JSON "{"'),
      "MalformedResponseError",
      "ERR_MALFORMED_RESPONSE",
      'Bad JSON "{"',
      undefined,
    ],
    [
      new StoppedError("ConsulInstancer"),
      "StoppedError",
      "ERR_STOPPED",
      "ConsulInstancer is stopped",
      undefined,
    ],
  ];
  for (const [error, name, code, message, expectedCause] of cases) {
    assert.ok(error instanceof SdError);
    assert.deepEqual([error.name, error.code, error.message, error.cause], [
      name,
      code,
      message,
      expectedCause,
    ]);
  }
});

Deno.test("RetryError lists every attempt's error and keeps the final one as cause", () => {
  const first = new Error("refused");
  const attempts: unknown[] = [first, "bad gateway"];
  const error = new RetryError(attempts, first);
  assert.equal(error.name, "RetryError");
  assert.equal(error.code, "ERR_RETRY_EXHAUSTED");
  assert.equal(error.message, 'All 2 attempts failed (1: Error: refused; 2: "bad gateway")');
  assert.equal(error.final, first);
  assert.equal(error.cause, first);
  attempts.push("later");
  assert.deepEqual(error.errors, [first, "bad gateway"], "a frozen copy");
  assert.ok(Object.isFrozen(error.errors));

  const timeout = new DOMException("Timed out after 50 ms", "TimeoutError");
  const late = new RetryError([timeout], timeout, true);
  assert.equal(late.code, "ERR_DEADLINE_EXCEEDED");
  assert.equal(late.message, "Deadline exceeded after 1 attempt (1: TimeoutError: Timed out after 50 ms)");
  assert.equal(new RetryError([], undefined).message, "All 0 attempts failed");
  assert.equal(new RetryError([], undefined, true).message, "Deadline exceeded after 0 attempts");
  assert.equal(new RetryError([1], 1).message, "All 1 attempt failed (1: 1)");
});

Deno.test("describe renders any thrown value on one line", () => {
  assert.equal(describe(new TypeError("bad")), "TypeError: bad");
  assert.equal(describe('say "hi"'), '"say \\"hi\\""');
  assert.equal(describe(42), "42");
  assert.equal(describe(null), "null");
  assert.equal(describe(undefined), "undefined");
  assert.equal(describe(Symbol("s")), "Symbol(s)");
  assert.equal(describe(Object.create(null)), "{}", "no toString at all");
  assert.equal(describe({ a: [1, "x"] }), '{"a":[1,"x"]}', "plain data is shown as JSON");
  assert.equal(describe([]), "[]");
  assert.equal(describe({ long: "y".repeat(200) }).length, 120, "cut short");
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  assert.equal(describe(cyclic), "[object Object]", "JSON fails: the tag");
  class Thing {
    toString(): string {
      throw new Error("nope");
    }
  }
  assert.equal(describe(new Thing()), "[object Object]", "a throwing toString");
});

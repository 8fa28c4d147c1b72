// The events every Registrar dispatches.
import { assert } from "./_deps.ts";
import { RegistrarErrorEvent, RegistrarEvent } from "../mod.ts";

Deno.test("RegistrarEvent names what happened and to which instance", () => {
  for (const type of ["registered", "deregistered", "reregistered"] as const) {
    const event = new RegistrarEvent(type, "10.0.0.1:80");
    assert.ok(event instanceof Event);
    assert.deepEqual([event.type, event.instance], [type, "10.0.0.1:80"]);
  }
});

Deno.test("RegistrarErrorEvent is an error event carrying the error and the instance", () => {
  const error = new Error("lease lost");
  const target = new EventTarget();
  const seen: [unknown, string][] = [];
  target.addEventListener("error", (e) => {
    const { error, instance } = e as RegistrarErrorEvent;
    seen.push([error, instance]);
  });
  target.dispatchEvent(new RegistrarErrorEvent(error, "10.0.0.1:80"));
  assert.deepEqual(seen, [[error, "10.0.0.1:80"]]);
  assert.equal(seen[0]![0], error);
});

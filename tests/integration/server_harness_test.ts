import { assert } from "../_deps.ts";
import { decide, REQUIRE_SERVERS } from "./_server.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("A server test runs with the address from its variable", () => {
  assert.deepEqual(decide("SD_X_ADDR", env({ SD_X_ADDR: " 127.0.0.1:1 " })), {
    kind: "run",
    address: "127.0.0.1:1",
  });
});

Deno.test("A server test is skipped with a message naming its variable when the address is unset", () => {
  const decision = decide("SD_X_ADDR", env({}));
  assert.equal(decision.kind, "skip");
  assert.match((decision as { reason: string }).reason, /set SD_X_ADDR/);
});

Deno.test("A server test fails instead of skipping when CI requires servers", () => {
  const decision = decide("SD_X_ADDR", env({ [REQUIRE_SERVERS]: "1", SD_X_ADDR: "" }));
  assert.equal(decision.kind, "fail");
  assert.match((decision as { reason: string }).reason, /SD_X_ADDR is not set but SD_REQUIRE_SERVERS=1/);
});

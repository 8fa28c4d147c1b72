// Deno leg of the runtime smoke test, run by scripts/runtime_smoke.sh through `deno test` so that the
// sanitizers (ops, resources, timers) also check that the scenario leaves nothing open. Not named
// *_test.js on purpose: it needs the loopback upstream and is not part of `deno task test`.
import { runScenario } from "../scenario.js";

Deno.test("the runtime smoke scenario passes in Deno against the bundle", async () => {
  const live = (Deno.env.get("SD_LIVE") ?? "").split(",").filter(Boolean);
  const dead = Deno.env.get("SD_DEAD") ?? "";
  if (live.length !== 2 || !dead) throw new Error("SD_LIVE and SD_DEAD must name the upstreams");
  const { passed, failed } = await runScenario({ runtime: "deno", live, dead });
  if (failed > 0 || passed === 0) throw new Error(`${failed} of ${passed + failed} checks failed`);
});

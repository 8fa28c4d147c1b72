// Runs the smoke scenario in Node or Bun for scripts/runtime_smoke.sh (Deno runs deno/smoke.js). The
// upstream addresses come from the environment (SD_LIVE: two comma-separated host:port, SD_DEAD: one
// host:port); SD_RUNTIME names the runtime in the output. Exits non-zero if any check failed.
import process from "node:process";
import { runScenario } from "./scenario.js";

const runtime = process.env.SD_RUNTIME || "unknown";
const live = (process.env.SD_LIVE ?? "").split(",").filter(Boolean);
const dead = process.env.SD_DEAD ?? "";

if (live.length !== 2 || !dead) {
  console.log(`FAIL ${runtime}: SD_LIVE and SD_DEAD must name the upstreams`);
  process.exitCode = 2;
} else {
  const { passed, failed } = await runScenario({ runtime, live, dead });
  console.log(`${runtime}: ${passed} checks passed, ${failed} checks failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

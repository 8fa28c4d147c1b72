// workerd entry for the runtime smoke test: `workerd test config.capnp` calls `test()` below, which
// runs the shared scenario with the upstream addresses bound from the environment (see config.capnp)
// and throws if any check failed, so workerd reports `[ FAIL ]` and exits non-zero.
import { runScenario } from "../scenario.js";

export default {
  async test(_controller, env, ctx) {
    const live = String(env.SD_LIVE ?? "").split(",").filter(Boolean);
    const dead = String(env.SD_DEAD ?? "");
    if (live.length !== 2 || !dead) throw new Error("SD_LIVE and SD_DEAD must name the upstreams");
    const { passed, failed } = await runScenario({ runtime: "workerd", live, dead, ctx });
    console.log(`workerd: ${passed} checks passed, ${failed} checks failed`);
    if (failed > 0 || passed === 0) throw new Error(`${failed} of ${passed + failed} checks failed`);
  },
};

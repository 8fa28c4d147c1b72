# workerd configuration for the runtime smoke test (scripts/runtime_smoke.sh runs `workerd test`).
# The `internet` service is overridden to allow local networks: by default workerd refuses fetch()
# to loopback addresses. The upstream addresses arrive through the environment.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .smokeWorker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
);

const smokeWorker :Workerd.Worker = (
  modules = [
    # Module names mirror the files under tests/runtime/, so relative imports resolve the same way.
    (name = "workerd/worker.js", esModule = embed "worker.js"),
    (name = "scenario.js", esModule = embed "../scenario.js"),
    (name = "hono_scenario.js", esModule = embed "../hono_scenario.js"),
    (name = "_timers.js", esModule = embed "../_timers.js"),
    (name = "dist/sd.js", esModule = embed "../dist/sd.js"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "SD_LIVE", fromEnvironment = "SD_LIVE"),
    (name = "SD_DEAD", fromEnvironment = "SD_DEAD"),
  ],
);

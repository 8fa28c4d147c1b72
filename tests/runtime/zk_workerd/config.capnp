# workerd configuration for the ZooKeeper smoke test (scripts/zk_workerd_smoke.sh runs `workerd test`).
# The `internet` service allows local networks, or connect() to 127.0.0.1 is refused.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .zkWorker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
);

const zkWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "dist/zk.js", esModule = embed "dist/zk.js"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [(name = "SD_ZK_ADDR", fromEnvironment = "SD_ZK_ADDR")],
);

# workerd configuration for the pull-mode gateway tests (tests/workerd/pull_serve_test.ts runs
# `workerd serve config.capnp --socket-addr=http=127.0.0.1:<port>`). The Worker is
# examples/worker_gateway.ts, bundled into dist/ by the test. Its bindings come from the environment
# the test gives workerd. The `internet` service allows local networks, or fetch() and connect() to
# 127.0.0.1 are refused.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .gateway),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const gateway :Workerd.Worker = (
  modules = [(name = "worker_gateway.js", esModule = embed "dist/worker_gateway.js")],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "SD_BACKEND", fromEnvironment = "SD_BACKEND"),
    (name = "SD_REGISTRY", fromEnvironment = "SD_REGISTRY"),
    (name = "SD_SERVICE", fromEnvironment = "SD_SERVICE"),
    (name = "SD_TTL_MS", fromEnvironment = "SD_TTL_MS"),
    (name = "SD_STALE_IF_ERROR_MS", fromEnvironment = "SD_STALE_IF_ERROR_MS"),
    (name = "SD_BACKOFF_MS", fromEnvironment = "SD_BACKOFF_MS"),
    (name = "SD_TIMEOUT_MS", fromEnvironment = "SD_TIMEOUT_MS"),
  ],
);

# workerd configuration for tests/workerd/hono_gateway_test.ts, which runs
# `workerd serve hono.capnp --socket-addr=http=127.0.0.1:<port>`. The Worker is
# examples/hono_worker_gateway.ts (the README's Hono gateway on Workers), bundled into dist/ by the
# test; its bindings come from the environment the test gives workerd. The `internet` service allows
# local networks, or fetch() to 127.0.0.1 is refused.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .gateway),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const gateway :Workerd.Worker = (
  modules = [(name = "hono_worker_gateway.js", esModule = embed "dist/hono_worker_gateway.js")],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "SD_CONSUL_ADDR", fromEnvironment = "SD_CONSUL_ADDR"),
    (name = "SD_SERVICE", fromEnvironment = "SD_SERVICE"),
  ],
);

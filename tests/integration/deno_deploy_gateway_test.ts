// The README's "Deno Deploy" code (examples/deno_deploy_gateway.ts) under `deno serve` against the real
// Consul agent: it forwards to an instance registered in Consul, follows a change, and exits within a
// second of SIGTERM with status 0 (watch mode with gracefulShutdown; without it the blocking query
// keeps `deno serve` running).
//   bash scripts/servers/consul.sh start && eval "$(bash scripts/servers/consul.sh env)"
//   deno test -A tests/integration/deno_deploy_gateway_test.ts
import { assert } from "../_deps.ts";
import { serverTest, withServerLock } from "./_server.ts";

const root = new URL("../../", import.meta.url);
const EXIT_BOUND_MS = 1000;

async function consul(address: string, method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`http://${address}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(5_000),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`Consul ${method} ${path}: ${response.status}`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Polls `url` until `accept(body)` holds, for at most `ms`. */
async function until(url: string, accept: (status: number, body: string) => boolean, ms = 20_000) {
  const end = performance.now() + ms;
  let last = "";
  while (performance.now() < end) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
      const body = await response.text();
      last = `${response.status} ${body}`;
      if (accept(response.status, body)) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`No accepted answer from ${url} within ${ms} ms; last: ${last}`);
}

serverTest(
  "The Deno Deploy gateway example forwards to Consul's instances under deno serve and exits within a second of SIGTERM",
  "SD_CONSUL_ADDR",
  (address) =>
    withServerLock("consul", "shared", async () => {
      const service = `deploy-gw-${crypto.randomUUID().slice(0, 8)}`;
      const upstreams = ["a", "b"].map((name) =>
        Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response(`upstream ${name}`))
      );
      const port = freePort();
      const [a, b] = upstreams.map((s) => s.addr.port);
      let child: Deno.ChildProcess | undefined;
      try {
        await consul(address, "PUT", "/v1/agent/service/register", {
          ID: `${service}-a`,
          Name: service,
          Address: "127.0.0.1",
          Port: a,
        });
        child = new Deno.Command(Deno.execPath(), {
          args: [
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            String(port),
            "-A",
            "examples/deno_deploy_gateway.ts",
          ],
          cwd: root,
          env: { SD_CONSUL_ADDR: address, SD_SERVICE: service, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const url = `http://127.0.0.1:${port}/hello`;
        await until(url, (status, body) => status === 200 && body === "upstream a");
        // A change in Consul reaches the gateway through its blocking query.
        await consul(address, "PUT", "/v1/agent/service/register", {
          ID: `${service}-b`,
          Name: service,
          Address: "127.0.0.1",
          Port: b,
        });
        await consul(address, "PUT", `/v1/agent/service/deregister/${service}-a`);
        await until(url, (status, body) => status === 200 && body === "upstream b");

        const sent = performance.now();
        child.kill("SIGTERM");
        const status = await child.status;
        const took = performance.now() - sent;
        const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
        child = undefined;
        assert.equal(status.code, 0, stderr);
        assert.equal(status.signal, null);
        assert.ok(took < EXIT_BOUND_MS, `exited ${took.toFixed(0)} ms after SIGTERM\n${stderr}`);
      } finally {
        if (child !== undefined) {
          child.kill("SIGKILL");
          await child.status;
          await child.stderr.cancel();
        }
        await consul(address, "PUT", `/v1/agent/service/deregister/${service}-a`).catch(() => {});
        await consul(address, "PUT", `/v1/agent/service/deregister/${service}-b`).catch(() => {});
        await Promise.all(upstreams.map((s) => s.shutdown()));
      }
    }),
);

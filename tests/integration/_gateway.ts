// Runs one of the examples/*_gateway.ts under `deno serve`, configured as documented (its .env file
// through --env-file; the test's own values come first, since --env-file never overrides the
// environment), and talks to it over HTTP.
import type { InstanceDetails } from "../../src/types.ts";

const root = new URL("../../", import.meta.url);

/** A gateway example running in its own process. */
export interface GatewayProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Fetches `path` from the gateway. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** What the status route lists for `service`: its instances with their details. */
  instances(service: string): Promise<({ instance: string } & InstanceDetails)[]>;
  /** Polls the status route until `service` has `count` instances. */
  waitForCount(service: string, count: number, ms?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code and everything printed to stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts `examples/<name>.ts` with `examples/<name>.env` and `env` on top; waits for /healthz. */
export async function startGateway(name: string, env: Record<string, string>): Promise<GatewayProcess> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      `--env-file=examples/${name}.env`,
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      `examples/${name}.ts`,
    ],
    cwd: root,
    env: { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const collected = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) stderr += text;
  })();
  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const status = await child.status;
      clearTimeout(timer);
      await collected;
      return { code: status.code, stderr };
    })();
  const instances = async (service: string) => {
    const response = await fetch(`${url}/_gateway/status`, { signal: AbortSignal.timeout(5_000) });
    const body = await response.json();
    return body.services[service]?.instances ?? [];
  };
  const gateway: GatewayProcess = {
    url,
    request: (path, init) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(15_000), ...init }),
    instances,
    async waitForCount(service, count, ms = 20_000) {
      const end = performance.now() + ms;
      let last: unknown;
      while (performance.now() < end) {
        try {
          last = await instances(service);
          if ((last as unknown[]).length === count) return;
        } catch (error) {
          last = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(
        `${service}: expected ${count} instances within ${ms} ms, last ${JSON.stringify(last)}`,
      );
    },
    stop,
  };
  const end = performance.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return gateway;
    } catch {
      // not listening yet
    }
    if (performance.now() > end) {
      const { stderr } = await stop();
      throw new Error(`examples/${name}.ts did not answer /healthz within 30 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The Consul examples against a real agent: two copies of examples/consul_service.ts run as their own
// processes and register themselves; the gateway of examples/consul_gateway.ts routes to both; on
// SIGINT a service deregisters and exits, and the gateway stops sending it requests.
import { assert } from "../_deps.ts";
import { type GatewayProcess, startGateway } from "./_gateway.ts";
import { uniqueName, within } from "../consul/_real.ts";
import { serverTestLocked } from "./_server.ts";

// Consul tests share the agent; the restart test takes it for itself.
const serverTest = serverTestLocked("consul", "shared");

/** A running copy of the service example, with everything it printed. */
interface ServiceProcess {
  child: Deno.ChildProcess;
  /** Resolves with the first printed line matching `pattern`. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with all output once the process has exited. */
  done: Promise<{ code: number; output: string }>;
}

function spawnService(address: string, name: string): ServiceProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net=127.0.0.1", "--allow-env", "examples/consul_service.ts"],
    cwd: new URL("../../", import.meta.url),
    env: { SD_CONSUL_ADDR: address, SD_SERVICE_NAME: name, PORT: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      output += text;
      for (const w of [...waiters]) {
        const match = output.match(w.pattern);
        if (match !== null) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(match);
        }
      }
    }
  };
  const streams = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const done = Promise.all([child.status, streams]).then(([status]) => ({ code: status.code, output }));
  return {
    child,
    done,
    line: (pattern) =>
      within(
        new Promise((resolve) => {
          const match = output.match(pattern);
          if (match !== null) resolve(match);
          else waiters.push({ pattern, resolve });
        }),
        30_000,
        `${pattern} in the output of consul_service.ts:\n${output}`,
      ),
  };
}

serverTest(
  "Consul examples: the gateway routes to self-registered services and drops one that deregisters on SIGINT",
  "SD_CONSUL_ADDR",
  async (address) => {
    const name = uniqueName("hello");
    const services = [spawnService(address, name), spawnService(address, name)];
    let gateway: GatewayProcess | undefined;
    try {
      const ports: number[] = [];
      for (const service of services) {
        const match = await service.line(/listening on http:\/\/127\.0\.0\.1:(\d+), registered as (\S+)/);
        ports.push(Number(match[1]));
        assert.equal(match[2], `${name}-127.0.0.1-${match[1]}`);
      }
      // Created after the registrations, so that their burst of writes does not spend the instancer's
      // two tokens (the pacing is tested on its own in loop_test.ts).
      gateway = await startGateway("consul_gateway", { SD_CONSUL_ADDR: address, SD_SERVICE: name });
      const app = gateway;
      // Both instances are registered and passing; the gateway finds them and alternates.
      const listing = () => app.instances(name);
      await within(
        (async () => {
          while ((await listing()).length < 2) await new Promise((r) => setTimeout(r, 100));
        })(),
        15_000,
        "two instances in the gateway",
      );
      const seen = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const response = await app.request(`/api/greet/${i}`);
        assert.equal(response.status, 200);
        const body = await response.json();
        assert.equal(body.path, `/greet/${i}`);
        assert.equal(body.service, name);
        seen.add(body.port);
      }
      assert.deepStrictEqual([...seen].sort(), [...ports].sort());
      const first = (await listing())[0]!;
      assert.equal(first.status, "passing");
      assert.deepStrictEqual(first.tags, ["example"]);
      assert.deepStrictEqual(first.meta, { runtime: "deno" });

      // SIGINT: the first service deregisters and exits; the gateway follows within a blocking answer.
      services[0]!.child.kill("SIGINT");
      const exited = await within(services[0]!.done, 15_000, "the first service to exit");
      assert.equal(exited.code, 0, exited.output);
      assert.match(exited.output, new RegExp(`deregistered ${name}-127\\.0\\.0\\.1-${ports[0]}`));
      await within(
        (async () => {
          while ((await listing()).length !== 1) await new Promise((r) => setTimeout(r, 100));
        })(),
        15_000,
        "the gateway to drop the stopped service",
      );
      for (let i = 0; i < 3; i++) {
        const body = await (await app.request("/api/after")).json();
        assert.equal(body.port, ports[1]);
      }
    } finally {
      await gateway?.stop();
      for (const service of services) {
        try {
          service.child.kill("SIGINT");
        } catch {
          // already exited
        }
        await within(service.done, 15_000, "a service to exit").catch(() => service.child.kill("SIGKILL"));
      }
    }
  },
);

// The etcd examples against a real etcd: services register with examples/etcd_service.ts, the Hono
// gateway of examples/etcd_gateway.ts discovers them and spreads requests, a deregistered service
// drops out, and the service run as a program deregisters on SIGINT.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_examples_test.ts
import { assert } from "../_deps.ts";
import { startGateway } from "./_gateway.ts";
import { type RunningService, startService } from "../../examples/etcd_service.ts";
import { serverTest } from "./_server.ts";
import { b64, range, withEtcdLock } from "./_etcd.ts";
import { sleep } from "./_etcd_sd.ts";

const VARIABLE = "SD_ETCD_ENDPOINTS";

serverTest(
  "The etcd gateway example balances over services that the service example registered, and drops one that deregisters",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const name = `orders-${crypto.randomUUID().slice(0, 8)}`;
      const services: RunningService[] = [];
      const gateway = await startGateway("etcd_gateway", {
        SD_ETCD_URL: url,
        SD_PREFIX: `/services/${name}/`,
      });
      try {
        services.push(await startService({ name, endpoints: [url], ttl: 5 }));
        services.push(await startService({ name, endpoints: [url], ttl: 5 }));
        const [a, b] = services as [RunningService, RunningService];
        assert.equal((await range(url, a.key)).kvs?.[0]?.value, b64(a.instance));
        await gateway.waitForCount(`/services/${name}/`, 2);

        const seen: string[] = [];
        for (let i = 0; i < 4; i++) {
          const response = await gateway.request(`/api/items/${i}?q=1`);
          assert.equal(response.status, 200);
          const body = await response.json();
          assert.equal(body.path, `/items/${i}`);
          seen.push(body.instance);
        }
        assert.deepStrictEqual(new Set(seen), new Set([a.instance, b.instance]));
        assert.notEqual(seen[0], seen[1], "round robin alternates");

        const status = await (await gateway.request("/_gateway/status")).json();
        const listed = status.services[`/services/${name}/`];
        assert.deepStrictEqual(
          listed.instances.map((i: { instance: string; id: string }) => ({
            instance: i.instance,
            key: i.id,
          })),
          [a, b].sort((x, y) => (x.instance < y.instance ? -1 : 1)).map((s) => ({
            instance: s.instance,
            key: s.key,
          })),
        );
        assert.equal(listed.error, null);

        await a.stop();
        assert.equal((await range(url, a.key)).kvs, undefined, "the key is gone");
        await gateway.waitForCount(`/services/${name}/`, 1);
        for (let i = 0; i < 3; i++) {
          const body = await (await gateway.request("/api/after")).json();
          assert.equal(body.instance, b.instance);
        }
      } finally {
        await gateway.stop();
        for (const s of services) await s.stop();
        await sleep(20);
      }
    }),
);

serverTest(
  "The etcd service example run as a program registers, serves and deregisters on SIGINT",
  VARIABLE,
  (url) =>
    withEtcdLock("shared", async () => {
      const name = `billing-${crypto.randomUUID().slice(0, 8)}`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-net=127.0.0.1", "examples/etcd_service.ts", name, url],
        cwd: new URL("../../", import.meta.url),
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const gateway = await startGateway("etcd_gateway", {
        SD_ETCD_URL: url,
        SD_PREFIX: `/services/${name}/`,
      });
      let exited = false;
      try {
        await gateway.waitForCount(`/services/${name}/`, 1, 15_000);
        const instance = (await gateway.instances(`/services/${name}/`))[0]!.instance;
        const body = await (await gateway.request("/api/ping")).json();
        assert.deepStrictEqual([body.service, body.instance, body.path], [name, instance, "/ping"]);

        child.kill("SIGINT");
        const { code, stdout } = await child.output();
        exited = true;
        const out = new TextDecoder().decode(stdout);
        assert.equal(code, 0, out);
        assert.match(
          out,
          new RegExp(`${name} at http://${instance}, registered as /services/${name}/${instance}`),
        );
        assert.match(out, /deregistered/);
        assert.equal((await range(url, `/services/${name}/${instance}`)).kvs, undefined);
        await gateway.waitForCount(`/services/${name}/`, 0);
      } finally {
        await gateway.stop();
        if (!exited) {
          child.kill("SIGKILL");
          await child.output();
        }
        await sleep(20);
      }
    }),
);

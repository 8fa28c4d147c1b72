// The DNS gateway example against the real BIND + dnsdist: SRV records added with nsupdate point at
// two local backends, and requests through the gateway reach them by priority and weight.
import { assert } from "../_deps.ts";
import { startGateway } from "./_gateway.ts";
import { nsupdate, zoneName } from "./_dns.ts";
import { serverTest } from "./_server.ts";

serverTest(
  "The DNS gateway example routes to SRV-published local backends through dnsdist",
  "SD_DOH_URL",
  async (url) => {
    const zone = zoneName();
    const tag = `gw${crypto.randomUUID().slice(0, 8)}`;
    const srv = `_http._tcp.${tag}.${zone}`;
    const hits = new Map<string, number>();
    const backend = (name: string) =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
        hits.set(name, (hits.get(name) ?? 0) + 1);
        return Response.json({ from: name, path: new URL(req.url).pathname });
      });
    const primary = backend("primary");
    const backup = backend("backup");
    await nsupdate([
      `update add ${tag}-p.${zone}. 5 IN A 127.0.0.1`,
      `update add ${tag}-b.${zone}. 5 IN A 127.0.0.1`,
      `update add ${srv}. 5 IN SRV 10 100 ${primary.addr.port} ${tag}-p.${zone}.`,
      `update add ${srv}. 5 IN SRV 20 100 ${backup.addr.port} ${tag}-b.${zone}.`,
    ]);
    const gateway = await startGateway("dns_gateway", { SD_DOH_URL: url, SD_SRV_NAME: srv });
    try {
      for (let i = 0; i < 5; i++) {
        const response = await gateway.request(`/api/orders/${i}`);
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { from: "primary", path: `/orders/${i}` });
      }
      // The primary goes away without DNS knowing: retries fall through to the backup tier.
      await primary.shutdown();
      const response = await gateway.request("/api/after-crash");
      assert.deepEqual(await response.json(), { from: "backup", path: "/after-crash" });
      const listing = { instances: await gateway.instances(srv) };
      // Entries come sorted by instance string and the ports are random: compare them by priority.
      const byPriority = listing.instances
        .map((i: { instance: string; priority?: number }) => [i.priority ?? 0, i.instance] as const)
        .sort((a: readonly [number, string], b: readonly [number, string]) => a[0] - b[0]);
      assert.deepEqual(byPriority, [[10, `127.0.0.1:${primary.addr.port}`], [
        20,
        `127.0.0.1:${backup.addr.port}`,
      ]]);
      assert.equal(hits.get("primary"), 5);
    } finally {
      await gateway.stop();
      await backup.shutdown();
      await primary.shutdown().catch(() => {});
      await nsupdate([
        `update delete ${srv}. SRV`,
        `update delete ${tag}-p.${zone}. A`,
        `update delete ${tag}-b.${zone}. A`,
      ]);
    }
  },
);

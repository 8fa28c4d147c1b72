// workerd entry for the ZooKeeper smoke test: a ZkClient with the runtime's own adapter (found by
// feature detection: `connect` from "cloudflare:sockets"), a registrar and an instancer on a fresh path.
// `workerd test` calls test(); a throw makes it report [ FAIL ].
// A computed specifier on purpose: dist/ exists only after the smoke script's build, and a literal
// import would fail `deno check tests/` on a fresh clone.
const BUNDLE = ["./dist", "zk.js"].join("/");

export default {
  async test(_controller, env) {
    const { ZkClient, ZkInstancer, ZkRegistrar } = await import(BUNDLE);
    const address = String(env.SD_ZK_ADDR ?? "");
    if (!address) throw new Error("SD_ZK_ADDR must name the ZooKeeper server");
    const path = `/sd-workerd-${crypto.randomUUID().slice(0, 8)}/api`;
    const client = new ZkClient(address, { timeout: 10_000 });
    const instancer = new ZkInstancer(client, path, { createParents: true });
    try {
      const seen = [];
      const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no update; saw ${JSON.stringify(seen)}`)), 10_000);
        instancer.subscribe((event) => {
          seen.push(event.instances ?? String(event.error));
          if (event.instances?.join() === "10.1.2.3:8080") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const registrar = new ZkRegistrar(client, { path, instance: "10.1.2.3:8080" });
      await registrar.register();
      await done;
      console.log(`PASS zk instancer in workerd saw ${JSON.stringify(seen)} via ${client.server}`);
      await registrar.deregister();
    } finally {
      instancer.stop();
      await client.close();
    }
  },
};

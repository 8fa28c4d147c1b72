// The ZooKeeper backend against a real ZooKeeper 3.8 (scripts/servers/zookeeper.sh): SD_ZK_ADDR for
// the standalone server, SD_ZK_ENSEMBLE for the three-member ensemble.
import { assert } from "../_deps.ts";
import { serverTest } from "./_server.ts";
import { ensemble, ensembleMembers, standalone, uniquePath, withZkLock } from "./_zk.ts";
import { ZkClient, type ZkClientOptions } from "../../src/zk/client.ts";
import { ZkInstancer } from "../../src/zk/instancer.ts";
import { ZkRegistrar } from "../../src/zk/registrar.ts";
import { digestAcl } from "../../src/zk/_util.ts";
import { isZkError } from "../../src/zk/errors.ts";
import type { DiscoveryEvent, Instancer } from "../../src/types.ts";

const zk = (servers: string, options: ZkClientOptions = {}) =>
  new ZkClient(servers, { sessionTimeout: 6_000, timeout: 15_000, ...options });

/** Resolves with the first event that satisfies `ok`. */
function until(
  instancer: Instancer,
  ok: (e: DiscoveryEvent) => boolean,
  ms = 15_000,
): Promise<DiscoveryEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (sub.unsubscribe(), reject(new Error("no matching event"))), ms);
    const sub = instancer.subscribe((e) => {
      if (!ok(e)) return;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(e);
    });
  });
}
const has = (...xs: string[]) => (e: DiscoveryEvent) => e.instances?.join() === xs.join();

serverTest(
  "ZkRegistrar registration and deregistration reach a ZkInstancer",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("shared", async () => {
      const path = `${uniquePath("reg")}/api`;
      const a = zk(addr), b = zk(addr);
      const instancer = new ZkInstancer(b, path, { createParents: true });
      const registrar = new ZkRegistrar(a, { path, instance: "10.0.0.1:8080" });
      try {
        await until(instancer, has());
        await registrar.register();
        assert.match(registrar.node!, new RegExp(`^${path}/_c_[0-9a-f]{32}-\\d{10}$`));
        await until(instancer, has("10.0.0.1:8080"));
        await registrar.deregister();
        await until(instancer, has());
        assert.ok((await a.exists(path)) !== null, "the service node stays");
      } finally {
        instancer.stop();
        await a.close();
        await b.close();
      }
    }),
);

serverTest(
  "Closing the registrar's session removes its node from the instancer",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("shared", async () => {
      const path = `${uniquePath("close")}/api`;
      const a = zk(addr), b = zk(addr);
      const instancer = new ZkInstancer(b, path, { createParents: true });
      try {
        await new ZkRegistrar(a, { path, instance: "10.0.0.2:8080" }).register();
        await until(instancer, has("10.0.0.2:8080"));
        await a.close();
        await until(instancer, has());
      } finally {
        instancer.stop();
        await a.close();
        await b.close();
      }
    }),
);

serverTest(
  "A digest ACL keeps out clients without the credentials",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("shared", async () => {
      const path = uniquePath("acl");
      const owner = zk(addr, { auth: [{ scheme: "digest", auth: "svc:s3cret" }] });
      const stranger = zk(addr);
      const wrong = zk(addr, { auth: [{ scheme: "digest", auth: "svc:wrong" }] });
      try {
        await owner.create(path, "10.0.0.3:8080", { acl: [await digestAcl("svc", "s3cret")] });
        assert.equal(new TextDecoder().decode((await owner.getData(path)).data), "10.0.0.3:8080");
        for (const c of [stranger, wrong]) {
          const error = await c.getData(path).catch((e) => e);
          assert.ok(isZkError(error, "NOAUTH"), String(error));
        }
        const { acl } = await owner.getACL(path);
        assert.equal(acl[0]?.scheme, "digest");
        await owner.delete(path);
      } finally {
        await Promise.all([owner.close(), stranger.close(), wrong.close()]);
      }
    }),
);

serverTest(
  "The client resumes its session after ZooKeeper restarts",
  "SD_ZK_ADDR",
  (addr) =>
    withZkLock("exclusive", async () => {
      const path = `${uniquePath("restart")}/api`;
      const a = zk(addr), b = zk(addr);
      const instancer = new ZkInstancer(b, path, {
        createParents: true,
        backoff: { initial: 100, max: 500 },
      });
      const registrar = new ZkRegistrar(a, { path, instance: "10.0.0.4:8080" });
      try {
        await registrar.register();
        await until(instancer, has("10.0.0.4:8080"));
        const session = a.sessionId;
        await standalone.restart(0.5);
        await a.ready();
        assert.equal(a.sessionId, session);
        assert.ok((await a.exists(registrar.node!)) !== null, "the ephemeral node survived");
        await new ZkRegistrar(a, { path, instance: "10.0.0.5:8080" }).register();
        await until(instancer, has("10.0.0.4:8080", "10.0.0.5:8080"));
      } finally {
        instancer.stop();
        await a.close();
        await b.close();
      }
    }),
);

serverTest(
  "The session survives the loss of its server in a three-member ensemble",
  "SD_ZK_ENSEMBLE",
  (list) =>
    withZkLock("exclusive", async () => {
      const members = ensembleMembers(list);
      const path = `${uniquePath("ensemble")}/api`;
      const a = zk(members.join(","), { sessionTimeout: 10_000 });
      const registrar = new ZkRegistrar(a, { path, instance: "10.0.0.6:8080" });
      let stopped: 1 | 2 | 3 | undefined;
      try {
        await registrar.register();
        const session = a.sessionId;
        const server = a.server!;
        stopped = (members.indexOf(server) + 1) as 1 | 2 | 3;
        await ensemble.memberStop(stopped, { kill: true });
        await a.ready();
        const node = await a.exists(registrar.node!);
        assert.ok(node !== null, "the ephemeral node survived");
        assert.equal(a.sessionId, session);
        assert.notEqual(a.server, server);
      } finally {
        await a.close();
        if (stopped !== undefined) await ensemble.memberStart(stopped);
      }
    }),
);

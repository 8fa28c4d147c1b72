// The etcd backend against a real etcd with authentication on (`etcd.sh auth-enable`: user sd-test,
// read-write under /sd-auth/). One token serves the instancer and the registrar; refusals surface as
// RegistryRejectedError; and when etcd forgets the token, the watch (refused inside its stream, with
// HTTP 200) and the calls authenticate again. Auth is always turned off again in `finally`.
//   bash scripts/servers/etcd.sh start && eval "$(bash scripts/servers/etcd.sh env)"
//   deno test --allow-net=127.0.0.1 --allow-read --allow-env --allow-run tests/integration/etcd_auth_test.ts
import { assert } from "../_deps.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../../src/etcd/mod.ts";
import { RegistryRejectedError } from "../../src/errors.ts";
import { serverTest } from "./_server.ts";
import { authCredentials, authenticate, del, put, single, withEtcdLock } from "./_etcd.ts";
import { Gate, Recorder, sleep } from "./_etcd_sd.ts";

serverTest(
  "EtcdClient authenticates once for an instancer and a registrar, and again when etcd forgets the token",
  "SD_ETCD_ENDPOINTS",
  (url) =>
    withEtcdLock("exclusive", async () => {
      const { user, password, prefix: allowed } = authCredentials();
      const prefix = `${allowed}${crypto.randomUUID().slice(0, 8)}/`;
      await single.authEnable();
      const gate = new Gate();
      const client = new EtcdClient({ endpoints: [url], username: user, password, fetch: gate.fetch });
      const instancer = new EtcdInstancer(client, prefix, { backoff: { initial: 100, max: 500 } });
      const recorder = new Recorder(instancer);
      const registrar = new EtcdRegistrar(client, { key: `${prefix}self`, value: "127.0.0.1:9401", ttl: 5 });
      let restarting = false;
      try {
        await recorder.until("[]");
        await registrar.register();
        await recorder.until("[127.0.0.1:9401]");
        assert.equal(gate.calls("/auth/authenticate").length, 1, "one token for every call");

        // Refusals: no credentials, a wrong password, a key outside the user's prefix.
        const anonymous = new EtcdClient({ endpoints: [url] });
        await assert.rejects(anonymous.range(prefix, { prefix: true }), (e) => {
          assert.ok(e instanceof RegistryRejectedError);
          assert.equal(e.status, 400);
          assert.equal(e.detail, "etcdserver: user name is empty");
          return true;
        });
        const impostor = new EtcdClient({ endpoints: [url], username: user, password: "wrong" });
        await assert.rejects(
          impostor.range(prefix),
          /refused user "sd-test": etcdserver: authentication failed/,
        );
        await assert.rejects(client.put("/sd-elsewhere", "x"), (e) => {
          assert.ok(e instanceof RegistryRejectedError);
          assert.equal(e.status, 403);
          assert.match(e.message, /permission denied/);
          return true;
        });

        // Turning auth off and on drops every token; the restart breaks the watch, whose retry is then
        // refused inside the stream ("invalid auth token") until the client authenticates again.
        await single.authDisable();
        await single.authEnable();
        restarting = true;
        await single.restart();
        restarting = false;
        await recorder.seen(/^error:/);
        const token = await authenticate(url, user, password);
        await put(url, `${prefix}late`, "127.0.0.1:9402", { token });
        await recorder.until("[127.0.0.1:9401,127.0.0.1:9402]", 8000);
        assert.ok(gate.calls("/auth/authenticate").length >= 2, "authenticated again");
        await registrar.deregister();
        await recorder.until("[127.0.0.1:9402]");
        await del(url, prefix, { prefix: true, token });
      } finally {
        if (restarting) await single.resume().catch(() => {});
        instancer.stop();
        registrar.stop();
        await single.authDisable();
        await sleep(20);
      }
    }),
);

// Soak: registry restarts that lose their state, under live registrars and a sampled endpointer
// (issue #11, Deliver item 2). For each backend, on the real servers on 127.0.0.1:
//
//   etcd       `etcd.sh wipe`          fresh data dir: keys, leases and history gone, revision back at 1
//   Consul     `consul.sh restart`     a new -dev agent: every service and check gone, index back at ~1
//   ZooKeeper  `zookeeper.sh wipe`     fresh data dir: every node and session gone, zxid back at 0
//   Eureka     `eureka.sh restart`     a new server: every registration gone
//   DNS        skipped: it has no registrar (records are the operator's, written with nsupdate), and
//              BIND keeps its zone across a restart, so nothing is lost to recover from.
//
// Three registrars from src/ stay live through every cycle, each with its own client, and a watch-mode
// instancer feeds a DefaultEndpointer that is sampled every 10 ms. A cycle:
//   1. restart the registry (the script returns once it serves again: that instant is `up`);
//   2. lost registrations: any live registrar's instance that the registry (read directly every 25 ms,
//      not through the instancer) still lacks `bound` ms after `up`;
//   3. as soon as the registry holds them all again (or at the bound), a fourth registrar registers,
//      so that the live set differs from what the endpointer held before the restart (a change made
//      at once would also close the window in which a fresh registry answers "none");
//   4. stale time: from `up` until the endpointer first equals the live set, fourth one included;
//   5. the oldest registrar deregisters and the endpointer must drop it within `bound` (removal time),
//      so that three stay live for the next cycle.
// Empty time is every sampled millisecond in which the endpointer was empty (live instances always
// exist). Bounds: etcd, ZooKeeper and Consul 5 s; Eureka one poll interval (with its up-to-10% stretch)
// plus one heartbeat interval plus one expiry of the server's response cache. The run fails (exit 1) on any lost registration, a stale or removal time
// over the bound, a cycle that never converges, or the overall timeout.
//
// Configuration is each library's default except where a default interval is a deliberate delay that
// would hide or swamp the recovery being measured: instancer backoff capped at 1 s (so that the
// failures while the server is down do not leave a long pause after it is back), etcd lease TTL 3 s,
// Consul TTL check 3 s and query pacing `{ burst: 2, interval: 1000 }` (the blocking wait stays at its
// 60 s default: a query that carries an index from before the restart blocks on exactly that),
// ZooKeeper session timeout 6 s, Eureka polls every 1 s and heartbeats every 1 s.
//
// Usage (servers started and their env loaded, see tests/integration/README.md):
//   deno task soak [etcd|consul|zookeeper|eureka ...] [--cycles N]
// Environment: SD_SOAK_CYCLES (default 3), SD_SOAK_TIMEOUT (seconds for the whole run, default 420),
// SD_SOAK_CAP_MS (how long a cycle waits past the bound to say how late something was; default bound
// + 10 s),
// SD_REQUIRE_SERVERS=1 (a backend whose address variable is unset fails instead of being skipped).
// Each backend runs holding its server's exclusive lock, so it never overlaps tests that use the server.
import { DefaultEndpointer } from "../src/endpointer.ts";
import type { Instancer, Registrar } from "../src/types.ts";
import { EtcdClient, EtcdInstancer, EtcdRegistrar } from "../src/etcd/mod.ts";
import { ConsulClient, ConsulInstancer, ConsulRegistrar } from "../src/consul/mod.ts";
import { isZkError, ZkClient, ZkInstancer, ZkRegistrar } from "../src/zk/mod.ts";
import { EurekaClient, EurekaInstancer, EurekaRegistrar } from "../src/eureka/mod.ts";
import { REQUIRE_SERVERS, serverScript, withServerLock } from "../tests/integration/_server.ts";

const SAMPLE_MS = 10;
const PROBE_MS = 25;
const LIVE = 3;
const BACKOFF = { initial: 100, max: 1000 };
const EUREKA_POLL_MS = 1000;
const EUREKA_RENEWAL_S = 1;
// eureka.server.response-cache-auto-expiration-in-seconds of the test server.
const EUREKA_CACHE_EXPIRY_S = 1;
const RUN = crypto.randomUUID().slice(0, 8);

/** One backend under test: how to restart it, its bound, and how to build its parts. */
interface Backend {
  name: string;
  /** The scripts/servers/<server>.sh that restarts it (and whose lock is taken). */
  server: string;
  /** The variable holding its address. */
  variable: string;
  /** Arguments of the script that restart it losing its state. */
  restart: string[];
  /** Milliseconds after `up` within which registrations must be back and the endpointer right. */
  bound: number;
  boundNote: string;
  setup(address: string): Harness;
}

/** The parts of one backend's soak. */
interface Harness {
  instancer: Instancer;
  /** A registrar (with a client of its own) for `127.0.0.1:<port>`. */
  registrar(port: number): Registrar;
  /** The instances the registry holds right now, read without the library's instancer. */
  stored(signal: AbortSignal): Promise<string[]>;
  /** Closes clients and removes what the run left behind. */
  close(): Promise<void>;
}

const instanceOf = (port: number) => `127.0.0.1:${port}`;

const etcd: Backend = {
  name: "etcd",
  server: "etcd",
  variable: "SD_ETCD_ENDPOINTS",
  restart: ["wipe"],
  bound: 5000,
  boundNote: "5 s",
  setup(endpoints) {
    const urls = endpoints.split(",").map((u) => u.trim()).filter((u) => u !== "");
    const prefix = `/sd-soak/${RUN}/api/`;
    const client = () => new EtcdClient({ endpoints: urls, timeout: 2000 });
    const reader = client();
    return {
      instancer: new EtcdInstancer(client(), prefix, { backoff: BACKOFF }),
      registrar: (port) =>
        new EtcdRegistrar(client(), {
          key: `${prefix}${port}`,
          value: instanceOf(port),
          ttl: 3,
          backoff: BACKOFF,
        }),
      async stored(signal) {
        const { kvs } = await reader.range(prefix, { prefix: true, signal });
        return kvs.map((kv) => kv.value);
      },
      async close() {
        await reader.delete(prefix, { prefix: true }).catch(() => {});
      },
    };
  },
};

const consul: Backend = {
  name: "consul",
  server: "consul",
  variable: "SD_CONSUL_ADDR",
  restart: ["restart"],
  bound: 5000,
  boundNote: "5 s",
  setup(address) {
    const name = `sd-soak-${RUN}`;
    const client = () => new ConsulClient({ address, timeout: 2000 });
    const base = `http://${address}`;
    return {
      instancer: new ConsulInstancer(client(), name, {
        rateLimit: { burst: 2, interval: 1000 },
        backoff: BACKOFF,
        // Instances that vanish in an agent reset are served for resetGrace while registrars put them
        // back; an instance removed inside that window disappears only when it ends. These registrars
        // re-register within about a second (3 s TTL, renewed every second), so a grace of 3 s covers
        // them and keeps a removal within the 5 s bound (the 15 s default suits 10-30 s keep-alives).
        resetGrace: 3_000,
      }),
      registrar: (port) =>
        new ConsulRegistrar(client(), {
          name,
          id: `${name}-${port}`,
          address: "127.0.0.1",
          port,
          checks: [{ ttl: 3000, deregisterCriticalServiceAfter: 60_000 }],
        }, { backoff: { initial: 200, max: 1000 } }),
      async stored(signal) {
        // The catalog, whatever the health: is the registration there at all?
        const response = await fetch(`${base}/v1/catalog/service/${name}`, { signal });
        if (!response.ok) throw new Error(`Consul answered ${response.status}`);
        const nodes = await response.json() as { ServiceAddress: string; ServicePort: number }[];
        return nodes.map((n) => `${n.ServiceAddress}:${n.ServicePort}`);
      },
      close: () => Promise.resolve(),
    };
  },
};

const zookeeper: Backend = {
  name: "zookeeper",
  server: "zookeeper",
  variable: "SD_ZK_ADDR",
  restart: ["wipe"],
  bound: 5000,
  boundNote: "5 s",
  setup(address) {
    const root = `/sd-soak-${RUN}`;
    const path = `${root}/api`;
    const clients: ZkClient[] = [];
    const client = () => {
      const c = new ZkClient(address, { sessionTimeout: 6000 });
      clients.push(c);
      return c;
    };
    const decoder = new TextDecoder();
    return {
      instancer: new ZkInstancer(client(), path, { backoff: BACKOFF }),
      registrar: (port) => new ZkRegistrar(client(), { path, instance: instanceOf(port) }),
      async stored(signal) {
        // A session of its own per read: a client that has seen the old zxid is what is under test.
        const reader = new ZkClient(address, { sessionTimeout: 6000, connectTimeout: 1000, timeout: 1000 });
        try {
          const names = await reader.getChildren(path, { signal }).catch((error) => {
            if (isZkError(error, "NONODE")) return [];
            throw error;
          });
          const data = await Promise.all(names.map((n) => reader.getData(`${path}/${n}`, { signal })));
          return data.map((d) => decoder.decode(d.data));
        } finally {
          await reader.close();
        }
      },
      async close() {
        for (const c of clients) await c.close().catch(() => {});
        const cleaner = new ZkClient(address, { timeout: 2000 });
        try {
          await cleaner.delete(path).catch(() => {});
          await cleaner.delete(root).catch(() => {});
        } finally {
          await cleaner.close().catch(() => {});
        }
      },
    };
  },
};

const eureka: Backend = {
  name: "eureka",
  server: "eureka",
  variable: "SD_EUREKA_URL",
  restart: ["restart"],
  // One poll interval, stretched by up to 10% as documented, plus one heartbeat interval, plus one
  // expiry of the server's response cache: a read that races a registration can keep the payload from
  // before it cached until then (scripts/servers/eureka/.../application.properties sets 1 s).
  bound: Math.round(EUREKA_POLL_MS * 1.1) + EUREKA_RENEWAL_S * 1000 + EUREKA_CACHE_EXPIRY_S * 1000,
  boundNote: `one poll (${EUREKA_POLL_MS} ms + 10%) + one heartbeat (${EUREKA_RENEWAL_S} s) + one ` +
    `response-cache expiry (${EUREKA_CACHE_EXPIRY_S} s)`,
  setup(url) {
    const app = `SD-SOAK-${RUN.toUpperCase()}`;
    const client = () => new EurekaClient({ urls: url, timeout: 2000 });
    const base = url.replace(/\/+$/, "");
    return {
      instancer: new EurekaInstancer(client(), app, { interval: EUREKA_POLL_MS, backoff: BACKOFF }),
      registrar: (port) =>
        new EurekaRegistrar(client(), {
          app,
          ipAddr: "127.0.0.1",
          port,
          instanceId: `${app.toLowerCase()}-${port}`,
          renewalIntervalInSecs: EUREKA_RENEWAL_S,
          durationInSecs: 10,
          backoff: BACKOFF,
        }),
      async stored(signal) {
        const response = await fetch(`${base}/apps/${app}`, {
          signal,
          headers: { accept: "application/json" },
        });
        if (response.status === 404) {
          await response.body?.cancel();
          return [];
        }
        if (!response.ok) throw new Error(`Eureka answered ${response.status}`);
        const body = await response.json() as {
          application?: { instance?: { ipAddr: string; port: { $: number } | number }[] };
        };
        return (body.application?.instance ?? []).map((i) =>
          `${i.ipAddr}:${typeof i.port === "number" ? i.port : i.port.$}`
        );
      },
      close: () => Promise.resolve(),
    };
  },
};

const BACKENDS: Backend[] = [etcd, consul, zookeeper, eureka];

/** What one backend's soak measured. */
interface Report {
  backend: Backend;
  /** How long a cycle waits for what did not come within the bound (to say how late it was), ms. */
  cap: number;
  cycles: number;
  lost: number;
  stale: number[];
  removal: number[];
  back: number[];
  down: number[];
  emptyMs: number;
  failures: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = (instances: Iterable<string>) => [...instances].sort().join(",");

function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** A duration; `Infinity` stands for "not within the cycle's cap". */
const ms = (value: number | undefined, cap?: number) =>
  value === undefined ? "-" : value === Infinity ? `over ${cap} ms` : `${Math.round(value)} ms`;
const max = (values: number[]) => values.length === 0 ? undefined : Math.max(...values);

/** Polls `fn` every `every` ms until it returns true or `deadline` (a Date.now() value) passes. */
async function until(
  fn: () => boolean | Promise<boolean>,
  deadline: number,
  every = SAMPLE_MS,
): Promise<boolean> {
  while (true) {
    if (await fn()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(every);
  }
}

async function soak(backend: Backend, address: string, cycles: number): Promise<Report> {
  const report: Report = {
    backend,
    cap: Number(Deno.env.get("SD_SOAK_CAP_MS") ?? backend.bound + 10_000),
    cycles: 0,
    lost: 0,
    stale: [],
    removal: [],
    back: [],
    down: [],
    emptyMs: 0,
    failures: [],
  };
  const { bound } = backend;
  // How long a cycle waits for what did not come within the bound, to say how late it was.
  const cap = report.cap;
  const h = backend.setup(address);
  const endpointer = new DefaultEndpointer<unknown, string>(h.instancer, (instance) => ({
    endpoint: () => Promise.resolve(instance),
  }));
  let nextPort = 9701;
  const live: { port: number; registrar: Registrar }[] = [];
  const liveKey = () => key(live.map((l) => instanceOf(l.port)));
  const add = async (deadline: number) => {
    const port = nextPort++;
    const registrar = h.registrar(port);
    live.push({ port, registrar });
    // register() rejects on failure; a server that just came back may still refuse for a moment.
    while (true) {
      try {
        await registrar.register();
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          report.failures.push(`${instanceOf(port)} could not register: ${error}`);
          return;
        }
        await sleep(PROBE_MS);
      }
    }
  };

  // The sampler: the endpointer's instances every 10 ms, the time it spent empty, and the first
  // sample that equals the live set after `watchFrom`.
  let target = "";
  let reached: number | undefined;
  let firstEmpty: number | undefined; // the cycle's first empty sample
  let counting = false; // empty time counts from the first time the endpointer showed the live set
  let last = Date.now();
  const sampler = setInterval(() => {
    const now = Date.now();
    const seen = key(endpointer.entries().map((e) => e.instance));
    if (counting && seen === "" && live.length > 0) {
      report.emptyMs += now - last;
      firstEmpty ??= now;
    }
    if (reached === undefined && seen === target) reached = now;
    last = now;
  }, SAMPLE_MS);
  const watch = () => {
    target = liveKey();
    reached = undefined;
  };

  try {
    const setupDeadline = Date.now() + 30_000;
    for (let i = 0; i < LIVE; i++) await add(setupDeadline);
    watch();
    if (!await until(() => reached !== undefined, setupDeadline)) {
      throw new Error(`the endpointer never showed the ${LIVE} first registrations (${liveKey()})`);
    }
    counting = true;

    for (let cycle = 1; cycle <= cycles; cycle++) {
      const started = Date.now();
      const emptyBefore = report.emptyMs;
      firstEmpty = undefined;
      await serverScript(backend.server, ...backend.restart);
      const up = Date.now();
      report.down.push(up - started);

      // Lost registrations: the registry itself (read directly, not through the instancer) must hold
      // every live registrar's instance again by `up + bound`.
      const survivors = live.map((l) => instanceOf(l.port));
      let missing: string[] = [];
      const holds = async (want: string[]) => {
        const stored = new Set(await h.stored(AbortSignal.timeout(2000)).catch(() => [] as string[]));
        missing = want.filter((w) => !stored.has(w));
        return missing.length === 0;
      };
      let back: number | undefined;
      if (await until(() => holds(survivors), up + bound, PROBE_MS)) {
        back = Date.now() - up;
      } else {
        report.lost += missing.length;
        report.failures.push(
          `cycle ${cycle}: ${missing.join(", ")} not in the registry ${bound} ms after it came back`,
        );
      }
      // A change once they are back (or at the bound): a fourth instance registers, so that the live
      // set differs from what the endpointer held before the restart.
      await add(Date.now() + bound);
      watch();
      const converged = await until(() => reached !== undefined, up + cap);
      if (back === undefined && await until(() => holds(survivors), up + cap, PROBE_MS)) {
        back = Date.now() - up;
      }
      if (back !== undefined) report.back.push(back);
      const stale = converged ? reached! - up : undefined;
      report.stale.push(stale ?? Infinity);
      if (stale === undefined || stale > bound) {
        report.failures.push(
          `cycle ${cycle}: stale ${
            stale === undefined ? `over ${cap} ms (never converged)` : `${stale} ms`
          } > bound ${bound} ms; endpointer [${
            key(endpointer.entries().map((e) => e.instance))
          }], live [${target}]`,
        );
      }

      // The oldest deregisters; the endpointer must drop it within the bound.
      const removed = live.shift()!;
      const removing = Date.now();
      await removed.registrar.deregister().catch((error) => {
        report.failures.push(`cycle ${cycle}: ${instanceOf(removed.port)} could not deregister: ${error}`);
      });
      watch();
      const dropped = await until(() => reached !== undefined, removing + cap);
      const removal = dropped ? reached! - removing : undefined;
      report.removal.push(removal ?? Infinity);
      if (removal === undefined || removal > bound) {
        report.failures.push(
          `cycle ${cycle}: deregistration shown after ${
            removal === undefined ? `over ${cap} ms` : `${removal} ms`
          } > bound ${bound} ms`,
        );
      }
      report.cycles = cycle;
      console.log(
        `  ${backend.name} cycle ${cycle}: restart took ${up - started} ms; registrations back after ${
          ms(back)
        }${missing.length > 0 ? ` (still missing: ${missing.join(", ")})` : ""}; stale ${
          ms(stale ?? Infinity, cap)
        }; removal shown after ${ms(removal ?? Infinity, cap)}; empty ${report.emptyMs - emptyBefore} ms${
          firstEmpty === undefined ? "" : ` (first empty ${firstEmpty - up} ms after it came back)`
        }`,
      );
    }
  } catch (error) {
    report.failures.push(`aborted: ${error instanceof Error ? error.message : error}`);
  } finally {
    clearInterval(sampler);
    endpointer.close();
    h.instancer.stop();
    await Promise.all(
      live.map(({ registrar }) =>
        Promise.race([registrar.deregister().catch(() => {}), sleep(3000)]).then(() => registrar.stop())
      ),
    );
    await Promise.race([h.close(), sleep(5000)]).catch(() => {});
  }
  return report;
}

function summary(r: Report): string {
  const { backend: b, cap } = r;
  const never = r.stale.filter((v) => v === Infinity).length;
  return `soak ${b.name}: ${r.cycles} cycles, ${r.lost} lost registrations, stale p50 ${
    ms(percentile(r.stale, 0.5), cap)
  } max ${ms(max(r.stale), cap)}${
    never > 0 ? ` (${never} never converged)` : ""
  } (bound ${b.bound} ms: ${b.boundNote}), ` +
    `empty ${r.emptyMs} ms; registrations back p50 ${ms(percentile(r.back, 0.5))} max ${ms(max(r.back))}, ` +
    `removal max ${ms(max(r.removal), cap)}, restart p50 ${ms(percentile(r.down, 0.5))}: ${
      r.failures.length === 0 ? "ok" : "FAILED"
    }`;
}

async function main(): Promise<number> {
  const args = [...Deno.args];
  let cycles = Number(Deno.env.get("SD_SOAK_CYCLES") ?? 3);
  const at = args.indexOf("--cycles");
  if (at >= 0) {
    cycles = Number(args[at + 1]);
    args.splice(at, 2);
  }
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > 50) {
    console.error(`--cycles must be a whole number from 1 to 50, got "${cycles}"`);
    return 2;
  }
  const names = args.length === 0 ? [...BACKENDS.map((b) => b.name), "dns"] : args;
  const unknown = names.filter((n) => n !== "dns" && !BACKENDS.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown backend "${unknown[0]}"; known: ${BACKENDS.map((b) => b.name).join(", ")}, dns`);
    return 2;
  }
  const t0 = Date.now();
  const reports: Report[] = [];
  let failed = 0;
  for (const backend of BACKENDS.filter((b) => names.includes(b.name))) {
    const address = Deno.env.get(backend.variable)?.trim();
    if (!address) {
      const why = `${backend.variable} is not set (see tests/integration/README.md)`;
      if (Deno.env.get(REQUIRE_SERVERS) === "1") {
        console.log(`soak ${backend.name}: FAILED: ${why} but ${REQUIRE_SERVERS}=1`);
        failed++;
      } else {
        console.log(`soak ${backend.name}: skipped: ${why}`);
      }
      continue;
    }
    console.log(
      `soak ${backend.name}: ${cycles} restarts (${backend.server}.sh ${backend.restart.join(" ")})`,
    );
    // The lock waits for tests (and benches) using the server to finish; say so if that takes a while.
    const waiting = setTimeout(
      () => console.log(`  waiting for the exclusive lock on scripts/servers/${backend.server}.sh (in use)`),
      3000,
    );
    const report = await withServerLock(backend.server, "exclusive", () => {
      clearTimeout(waiting);
      return soak(backend, address, cycles);
    });
    reports.push(report);
    for (const f of report.failures) console.log(`  ${backend.name}: ${f}`);
    if (report.failures.length > 0) failed++;
  }
  if (names.includes("dns")) {
    console.log("soak dns: skipped: DNS has no registrar, and BIND keeps its zone across a restart");
  }
  console.log();
  for (const r of reports) console.log(summary(r));
  console.log(
    `soak: ${failed === 0 ? "ok" : `${failed} backend(s) FAILED`} in ${
      Math.round((Date.now() - t0) / 1000)
    } s`,
  );
  return failed === 0 ? 0 : 1;
}

const limit = Number(Deno.env.get("SD_SOAK_TIMEOUT") ?? 420);
const timer = setTimeout(() => {
  console.log(`soak: FAILED: overall timeout of ${limit} s`);
  Deno.exit(1);
}, limit * 1000);
const code = await main();
clearTimeout(timer);
Deno.exit(code);

// deno bench: the Eureka backend.
// - Parsing a 1,000-instance `GET /apps` answer (20 applications of 50 instances, Spring's JSON with
//   ports as {"$", "@enabled"} objects and metadata): JSON.parse alone (baseline), JSON.parse plus
//   the quirk-smoothing decode, and the whole EurekaClient.getApplications() on a stand-in fetch
//   (body read with its cap, decode).
// - Turning one 1,000-instance application into instances with details (what every poll costs).
// - With SD_EUREKA_URL set (and --allow-env): propagation time against the real server, from a
//   status change (setStatus resolved) to the endpointer's `change` event, with a 1 s poll. 20
//   samples (and Deno's one warm-up), each at a random phase against the poll, alternate
//   OUT_OF_SERVICE and UP; p50 and p99 are printed.
//   Without it, that bench is skipped.
import { DefaultEndpointer } from "../src/endpointer.ts";
import { selection, toInstances } from "../src/eureka/_select.ts";
import { decodeApplicationsAnswer } from "../src/eureka/_wire.ts";
import { EurekaClient, EurekaInstancer, EurekaRegistrar } from "../src/eureka/mod.ts";

/** A Spring-style `/apps` answer with `apps` applications of `per` instances. */
function appsJson(apps: number, per: number): string {
  const application = Array.from({ length: apps }, (_, a) => {
    const name = `SERVICE-${a}`;
    return {
      name,
      instance: Array.from({ length: per }, (_, i) => {
        const ip = `10.${a}.${i >> 8}.${i & 255}`;
        return {
          instanceId: `${ip}:${name.toLowerCase()}:8080`,
          hostName: ip,
          app: name,
          ipAddr: ip,
          status: i % 25 === 0 ? "DOWN" : "UP",
          overriddenStatus: "UNKNOWN",
          port: { $: 8080, "@enabled": "true" },
          securePort: { $: 443, "@enabled": "false" },
          countryId: 1,
          dataCenterInfo: {
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
            name: "MyOwn",
          },
          leaseInfo: {
            renewalIntervalInSecs: 30,
            durationInSecs: 90,
            registrationTimestamp: 1_700_000_000_000,
            lastRenewalTimestamp: 1_700_000_030_000,
            evictionTimestamp: 0,
            serviceUpTimestamp: 1_700_000_000_000,
          },
          metadata: { zone: `zone-${i % 3}`, version: "1.4.2", "management.port": "8081" },
          homePageUrl: `http://${ip}:8080/`,
          statusPageUrl: `http://${ip}:8080/actuator/info`,
          healthCheckUrl: `http://${ip}:8080/actuator/health`,
          vipAddress: name.toLowerCase(),
          secureVipAddress: name.toLowerCase(),
          isCoordinatingDiscoveryServer: "false",
          lastUpdatedTimestamp: "1700000000000",
          lastDirtyTimestamp: "1700000000000",
          actionType: "ADDED",
        };
      }),
    };
  });
  return JSON.stringify({
    applications: { versions__delta: "1", apps__hashcode: "DOWN_40_UP_960_", application },
  });
}

const text = appsJson(20, 50);
const bytes = new TextEncoder().encode(text);
const client = new EurekaClient({
  urls: "http://eureka.invalid/eureka",
  fetch: () => Promise.resolve(new Response(bytes, { headers: { "content-type": "application/json" } })),
});
if ((await client.getApplications()).applications.length !== 20) throw new Error("bad fixture");
export let sink: unknown;

Deno.bench({
  name: `JSON.parse of /apps, 1,000 instances (${(bytes.length / 1024).toFixed(0)} KiB)`,
  group: "eureka-apps",
  baseline: true,
  fn() {
    sink = JSON.parse(text);
  },
});
Deno.bench({
  name: "JSON.parse + decode of /apps, 1,000 instances",
  group: "eureka-apps",
  fn() {
    sink = decodeApplicationsAnswer(JSON.parse(text));
  },
});
Deno.bench({
  name: "EurekaClient.getApplications(), 1,000 instances (stand-in fetch)",
  group: "eureka-apps",
  async fn() {
    sink = await client.getApplications();
  },
});

const big = decodeApplicationsAnswer(JSON.parse(appsJson(1, 1000))).applications[0]!;
const upOnly = selection({});
Deno.bench({
  name: "toInstances, one application of 1,000 instances (UP only, with details)",
  group: "eureka-select",
  fn() {
    sink = toInstances(big.instances, upOnly);
  },
});

// --- Propagation against the real server ---------------------------------------------------------

const allowed = Deno.permissions.querySync({ name: "env", variable: "SD_EUREKA_URL" }).state === "granted";
const url = allowed ? Deno.env.get("SD_EUREKA_URL")?.trim() : undefined;
const samples: number[] = [];

Deno.bench({
  name: "propagation: setStatus -> endpointer change, 1 s poll (real server)",
  group: "eureka-propagation",
  ignore: !url,
  n: 20,
  warmup: 0,
  async fn(b) {
    await propagation.ready;
    // A random phase against the poll: right after a change the next poll is a full interval away.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
    const next = propagation.flip ? "UP" : "OUT_OF_SERVICE";
    propagation.flip = !propagation.flip;
    const changed = new Promise<void>((resolve) =>
      propagation.endpointer!.addEventListener("change", () => resolve(), { once: true })
    );
    await propagation.registrar!.setStatus(next);
    b.start();
    const started = performance.now();
    await changed;
    samples.push(performance.now() - started);
    b.end();
  },
});

interface Propagation {
  ready: Promise<void>;
  flip: boolean;
  registrar?: EurekaRegistrar;
  endpointer?: DefaultEndpointer;
}
const propagation: Propagation = { ready: Promise.resolve(), flip: false };
if (url) {
  const real = new EurekaClient({ urls: url });
  const app = `EDGEKIT-BENCH-${crypto.randomUUID().slice(0, 8)}`;
  // A short lease: stop() at the end leaves the registration, which the server evicts within seconds.
  const registrar = new EurekaRegistrar(real, {
    app,
    ipAddr: "127.0.0.1",
    port: 9199,
    renewalIntervalInSecs: 1,
    durationInSecs: 3,
  });
  const instancer = new EurekaInstancer(real, app, { interval: 1000 });
  const endpointer = new DefaultEndpointer(instancer, (i) => ({ endpoint: () => Promise.resolve(i) }));
  propagation.registrar = registrar;
  propagation.endpointer = endpointer;
  propagation.ready = (async () => {
    await registrar.register();
    await new Promise<void>((resolve) => {
      const check = () => endpointer.endpoints().length === 1 && resolve();
      endpointer.addEventListener("change", check);
      check();
    });
  })();
  globalThis.addEventListener("unload", () => {
    endpointer.close();
    instancer.stop();
    registrar.stop();
    if (samples.length > 0) {
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (q: number) =>
        sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!.toFixed(0);
      console.log(
        `eureka propagation (${sorted.length} samples, 1 s poll): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`,
      );
    }
  });
}

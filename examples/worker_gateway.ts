/**
 * A Cloudflare Worker (module syntax) that forwards every request to a service found in a registry,
 * in pull mode: discovery is refreshed inside the requests that need it, never in the background.
 * The `SD_BACKEND` binding picks the registry, so one Worker serves every backend.
 *
 * - One gateway per isolate, kept at module scope and built from the bindings on the first request
 *   (bindings arrive with the request). The constructors do no I/O and start no timer.
 * - Per request, `refresh()` answers at once within the TTL, serves the known set while one refresh
 *   runs under `ctx.waitUntil` after it, and looks up inline only with nothing servable.
 * - `invalidateAfter: 0`: once `staleIfError` has run out, the endpointer throws the discovery error
 *   instead of serving an old set, and the gateway answers 503 at once.
 *
 * Every answer carries `x-sd-refresh`: how discovery answered (`fresh`, `stale`, `refreshed`,
 * `coalesced`, `stale-if-error`, or `error` with a 503). The README's "Cloudflare Workers" section
 * shows this file; tests/workerd/pull_serve_test.ts runs it in `workerd serve` against each real
 * registry and a fake one with faults.
 */
import {
  balancedFetch,
  DefaultEndpointer,
  httpFactory,
  isSdError,
  type Lookup,
  PullInstancer,
  RetryError,
} from "@edgekit/sd";
import { RoundRobinBalancer } from "@edgekit/sd/lb";
import { ConsulClient, consulLookup } from "@edgekit/sd/consul";
import { EtcdClient, etcdLookup } from "@edgekit/sd/etcd";
import { EurekaClient, eurekaLookup } from "@edgekit/sd/eureka";
import { DohResolver } from "@edgekit/sd/dns";
import { srvLookup } from "@edgekit/sd/dnssrv";
import { zkLookup } from "@edgekit/sd/zk";

/** The Worker's bindings (wrangler `[vars]`); the durations are milliseconds. */
export interface Env {
  /** Which registry: `consul`, `etcd`, `eureka`, `dns` (SRV over DoH) or `zk`. */
  SD_BACKEND: string;
  /** Where it answers: see each case of `lookup` below. */
  SD_REGISTRY: string;
  /** What to look up there: a service, key prefix, application, SRV name or node. */
  SD_SERVICE: string;
  /** How long a looked-up set stays fresh when the registry gives no TTL. Default: 10000. */
  SD_TTL_MS?: string;
  /** How long the last good set is served once refreshes fail. Default: 60000. */
  SD_STALE_IF_ERROR_MS?: string;
  /** First wait after a failed refresh, doubling to 30 s. Default: 1000. */
  SD_BACKOFF_MS?: string;
  /** Bound on one lookup. Default: 2000. */
  SD_TIMEOUT_MS?: string;
}

/** The part of the Worker's `ctx` used here. */
export interface Context {
  waitUntil(promise: Promise<unknown>): void;
}

/** One read of the service's instances from the registry that `SD_BACKEND` names. */
function lookup(env: Env): Lookup {
  switch (env.SD_BACKEND) {
    case "consul": // SD_REGISTRY: the agent, host:port; SD_SERVICE: the service
      return consulLookup(new ConsulClient({ address: env.SD_REGISTRY }), env.SD_SERVICE);
    case "etcd": // SD_REGISTRY: http://host:2379; SD_SERVICE: the key prefix, e.g. /services/api/
      return etcdLookup(new EtcdClient({ endpoints: [env.SD_REGISTRY] }), env.SD_SERVICE);
    case "eureka": // SD_REGISTRY: http://host:8761/eureka; SD_SERVICE: the application
      return eurekaLookup(new EurekaClient({ urls: env.SD_REGISTRY }), env.SD_SERVICE);
    case "dns": // SD_REGISTRY: a DoH URL; SD_SERVICE: the SRV name, e.g. _http._tcp.api.example.com
      // maxStale: 0 leaves serving stale to the PullInstancer (staleIfError); targets are resolved
      // through the same DoH (answers' additional records save most of those queries).
      return srvLookup(new DohResolver({ servers: [env.SD_REGISTRY], maxStale: 0 }), env.SD_SERVICE, {
        resolveTargets: "ipv4",
      });
    case "zk": // SD_REGISTRY: host:port[,host:port]; SD_SERVICE: the parent node, e.g. /services/api
      // Each lookup opens its own session over connect() from "cloudflare:sockets" and closes it.
      return zkLookup({ servers: env.SD_REGISTRY, path: env.SD_SERVICE });
    default:
      throw new TypeError(`SD_BACKEND must be consul, etcd, eureka, dns or zk, got "${env.SD_BACKEND}"`);
  }
}

interface Gateway {
  readonly instancer: PullInstancer;
  readonly upstream: (request: Request) => Promise<Response>;
}

// Shared by every request this isolate serves: only settled data lives here, never a pending promise.
let gateway: Gateway | undefined;

function build(env: Env): Gateway {
  const ms = (value: string | undefined, fallback: number) => value ? Number(value) : fallback;
  const instancer = new PullInstancer(lookup(env), {
    ttl: ms(env.SD_TTL_MS, 10_000),
    staleIfError: ms(env.SD_STALE_IF_ERROR_MS, 60_000),
    backoff: { initial: ms(env.SD_BACKOFF_MS, 1_000), max: 30_000 },
    timeout: ms(env.SD_TIMEOUT_MS, 2_000),
  });
  const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 10_000 }), {
    invalidateAfter: 0,
  });
  const upstream = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 2, timeout: 15_000 });
  return { instancer, upstream };
}

/** 503 with the discovery error, at once: the registry is down and nothing servable is known. */
function unavailable(error: unknown): Response {
  const message = error instanceof Error ? error.message : String(error);
  return Response.json({ error: `Service discovery failed: ${message}` }, {
    status: 503,
    headers: { "retry-after": "1", "x-sd-refresh": "error" },
  });
}

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    const { instancer, upstream } = gateway ??= build(env);
    let source: string;
    try {
      ({ source } = await instancer.refresh({
        signal: request.signal,
        waitUntil: (promise) => ctx.waitUntil(promise),
      }));
    } catch (error) {
      return unavailable(error);
    }
    let response: Response;
    try {
      response = await upstream(request);
    } catch (error) {
      const final = error instanceof RetryError ? error.final : error;
      // No instance to pick (none registered, or discovery failed meanwhile): 503. The instances
      // failed (network errors, timeouts): 502.
      if (isSdError(final)) return unavailable(final);
      return Response.json({ error: String(final) }, { status: 502, headers: { "x-sd-refresh": source } });
    }
    const headers = new Headers(response.headers);
    headers.set("x-sd-refresh", source);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  },
};

/**
 * The Hono gateway of examples/consul_gateway.ts as a Cloudflare Worker: pull mode, since a Worker may
 * run no background watch. Built on the first request (bindings arrive with it) and kept by the
 * isolate: the constructors do no I/O and start no timer. Each request refreshes the set inside
 * itself (the lookup runs under `c.executionCtx.waitUntil` once the set is stale); within the TTL a
 * request costs no discovery subrequest. Bindings (wrangler `[vars]`): SD_CONSUL_ADDR, SD_SERVICE.
 * tests/workerd/hono_gateway_test.ts runs it in `workerd serve` against the real Consul agent.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { DefaultEndpointer, httpFactory, PullInstancer } from "@edgekit/sd";
import { ConsulClient, consulLookup } from "@edgekit/sd/consul";
import { RoundRobinBalancer } from "@edgekit/sd/lb";
import { serviceProxy } from "@edgekit/sd/hono";

type Env = { Bindings: { SD_CONSUL_ADDR: string; SD_SERVICE: string } };
let proxy: MiddlewareHandler<Env> | undefined; // one per isolate, built on its first request

export default new Hono<Env>().all("/api/*", (c, next) => {
  if (proxy === undefined) {
    const consul = new ConsulClient({ address: c.env.SD_CONSUL_ADDR });
    const instancer = new PullInstancer(consulLookup(consul, c.env.SD_SERVICE), { ttl: 10_000 });
    const endpointer = new DefaultEndpointer(instancer, httpFactory({ timeout: 5_000 }));
    proxy = serviceProxy(new RoundRobinBalancer(endpointer), { pull: instancer, stripPrefix: "/api" });
  }
  return proxy(c, next);
});

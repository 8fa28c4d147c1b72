/**
 * A gateway for Deno Deploy or `deno serve`: watch mode (a long-lived blocking query), Consul.
 * The code of the README's "Deno Deploy" section.
 *
 * Run: SD_CONSUL_ADDR=127.0.0.1:8500 SD_SERVICE=users \
 *   deno serve --allow-net --allow-env examples/deno_deploy_gateway.ts
 */
import { balancedFetch, DefaultEndpointer, gracefulShutdown, httpFactory } from "@edgekit/sd";
import { ConsulClient, ConsulInstancer } from "@edgekit/sd/consul";
import { RoundRobinBalancer } from "@edgekit/sd/lb";

// Module scope runs once per isolate; Deno Deploy and `deno serve` allow I/O here, so the watch
// starts now and keeps the set current between requests.
const client = new ConsulClient({
  address: Deno.env.get("SD_CONSUL_ADDR") ?? "127.0.0.1:8500",
  ...(Deno.env.has("SD_CONSUL_TOKEN") ? { token: Deno.env.get("SD_CONSUL_TOKEN")! } : {}),
});
const instancer = new ConsulInstancer(client, Deno.env.get("SD_SERVICE") ?? "users", { wait: 30_000 });
const endpointer = new DefaultEndpointer<Request, Response>(instancer, httpFactory());
const users = balancedFetch(new RoundRobinBalancer(endpointer), { attempts: 3, timeout: 5_000 });

// On SIGTERM/SIGINT: stop the watch and leave (without it, the blocking query keeps the isolate alive).
// `exit: 0` is how `deno serve` itself ends; where no signal comes, this does nothing.
await gracefulShutdown({ endpointers: [endpointer], instancers: [instancer], exit: 0 });

export default {
  async fetch(request: Request): Promise<Response> {
    if (endpointer.endpoints().length === 0) {
      try {
        // Only the first requests of an isolate wait; a discovery error answers 503 at once.
        await endpointer.ready({ signal: AbortSignal.any([request.signal, AbortSignal.timeout(3_000)]) });
      } catch (error) {
        return Response.json({ error: `Discovery: ${(error as Error).message}` }, { status: 503 });
      }
    }
    const url = new URL(request.url);
    try {
      return await users(url.pathname + url.search, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      });
    } catch (error) {
      return Response.json({ error: (error as Error).message }, { status: 502 });
    }
  },
} satisfies Deno.ServeDefaultExport;

/**
 * Self-registration for a Hono app (or anything with a `fetch(request)` method) on long-lived hosts:
 * serve it, register the address once the server listens, and on SIGTERM or SIGINT mark the health
 * state as draining, deregister, let in-flight requests finish, then exit. Built on
 * `gracefulShutdown`, so discovery keeps running while the requests drain.
 *
 * The HTTP server and the signals come from small adapters loaded on first use by feature detection:
 * Bun's `serve` on Bun, Deno's `serve` on Deno, `node:http` on Node (translated to Web `Request` and
 * `Response`). Importing this module loads none of them.
 *
 * @module
 */
import { delay } from "../_async.ts";
import { StoppedError } from "../errors.ts";
import {
  type Closable,
  gracefulShutdown,
  type ShutdownHandle,
  type ShutdownHook,
  type ShutdownReport,
  type Stoppable,
} from "../shutdown.ts";
import type { ShutdownSignal, SignalSource } from "../signals.ts";
import type { Logger, RegistrarCallOptions } from "../types.ts";
import { requireFunction, requireMethod, requireNumber, requireString } from "../_validate.ts";
import { HealthState } from "./health.ts";

/** What is served: a Hono app, or anything with the same `fetch`. */
export interface FetchApp {
  /**
   * Answers one request. The second argument is what the runtime's own server passes (Deno's
   * `ServeHandlerInfo`, Bun's server, Node's `{ incoming, outgoing }`), so Hono's `getConnInfo`
   * helpers keep working.
   */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

/** The part of a Registrar that self-registration uses: every Registrar of this library fits. */
export interface SelfRegistrar {
  /** Registers the instance and starts its keep-alive. */
  register(options?: RegistrarCallOptions): Promise<void>;
  /** Removes the instance; given the shutdown timeout's signal. */
  deregister(options?: RegistrarCallOptions): Promise<void>;
  /** Stops the keep-alive; called once the deregistration settled or timed out. */
  stop?(): void;
}

/** Where the server listens, known only once it does. */
export interface ServeAddress {
  /** The address the server is bound to, e.g. `"0.0.0.0"` or `"127.0.0.1"`. */
  readonly hostname: string;
  /** The bound port (the real one when `port` was 0). */
  readonly port: number;
  /** The address to register: `advertise` (or `hostname`) and the port, e.g. `"10.0.0.5:8080"`. */
  readonly host: string;
  /** `host:port` of {@linkcode ServeAddress.host}, as instancers report it (IPv6 in brackets). */
  readonly instance: string;
}

/** A started server, as a {@linkcode ServerAdapter} gives it back. */
export interface ListeningServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Stops accepting connections and resolves once every in-flight request has finished. */
  shutdown(): Promise<void>;
  /** Drops every connection at once (after the shutdown timeout). */
  close(): void;
}

/** Starts an HTTP server on one runtime; {@linkcode detectServerAdapter} finds the runtime's own. */
export interface ServerAdapter {
  /** The runtime's name: `"deno"`, `"bun"`, `"node"` or your own. */
  readonly runtime: string;
  /**
   * Binds and starts serving; resolves once the server listens.
   *
   * @param handler Answers every request (errors already turned into 500 answers).
   * @param options Where to listen.
   */
  listen(
    handler: (request: Request, env: unknown) => Promise<Response>,
    options: { hostname: string; port: number },
  ): Promise<ListeningServer>;
}

/** Options for {@linkcode serveRegistered}. */
export interface ServeRegisteredOptions<R extends SelfRegistrar = SelfRegistrar> {
  /**
   * The registrar, or a function that builds it from the address once the server listens (the port
   * is known only then when `port` is 0). Registered once the server listens; the call rejects if
   * the registration fails.
   */
  registrar: R | ((address: ServeAddress) => R | Promise<R>);
  /** The interface to listen on. Default: `"0.0.0.0"` (then `advertise` is required). */
  hostname?: string;
  /** The port; 0 picks a free one. Default: 0. */
  port?: number;
  /**
   * The host other machines reach this instance at, passed to the registrar function. Default:
   * `hostname`, which must then not be a wildcard (`0.0.0.0`, `::`).
   */
  advertise?: string;
  /**
   * The state the health route reports (`healthHandler`): `"serving"` just before the
   * registration (a registry's first check passes), `"draining"` as the first step of the shutdown
   * (checks see 503 while the instance leaves), `"stopped"` once the requests have drained, and
   * `"stopped"` too if the registration fails. Default: none.
   */
  health?: HealthState;
  /**
   * Milliseconds between draining and deregistering, for registries that learn of a departure from
   * the health check rather than from the deregistration (Eureka's status URL, Kubernetes readiness).
   * Counts against `timeout`. Default: 0.
   */
  drainDelay?: number;
  /**
   * Milliseconds for the whole shutdown: draining, deregistration and in-flight requests. When it
   * runs out, the remaining connections are dropped and the process exits. Default: 5000.
   */
  timeout?: number;
  /** The signals that start the shutdown. Default: `["SIGTERM", "SIGINT"]`. */
  signals?: readonly ShutdownSignal[];
  /** How a signal-started shutdown ends the process, as in `gracefulShutdown`. Default: `"signal"`. */
  exit?: "signal" | number | false;
  /** Run after the in-flight requests have drained, in order (close a database pool). Default: none. */
  onStop?: ShutdownHook | Iterable<ShutdownHook>;
  /** Closed after the hooks. Default: none. */
  endpointers?: Iterable<Closable>;
  /** Stopped last: the instancers the app reads its upstreams from. Default: none. */
  instancers?: Iterable<Stoppable>;
  /** Called with the shutdown's report, before any exit. Default: none. */
  onComplete?: (report: ShutdownReport) => void;
  /** Receives progress, request errors and every failure. Default: silent. */
  logger?: Logger;
  /** Where signals come from. Default: the runtime's; `null` listens to none. */
  source?: SignalSource | null;
  /** The HTTP server. Default: the runtime's, from {@linkcode detectServerAdapter}. */
  server?: ServerAdapter;
}

/** A served, registered app, returned by {@linkcode serveRegistered}. */
export interface RegisteredServer<R extends SelfRegistrar = SelfRegistrar> extends AsyncDisposable {
  /** The runtime whose server runs it. */
  readonly runtime: string;
  /** Where it listens and what was registered. */
  readonly address: ServeAddress;
  /** The registrar, registered. */
  readonly registrar: R;
  /** The shutdown guard: `add()` more targets, `listening`, `started`. */
  readonly shutdown: ShutdownHandle;
  /**
   * Runs the shutdown now (draining, deregistration, in-flight requests, hooks, discovery) without
   * exiting; joins a run already under way. Also what `Symbol.asyncDispose` does.
   */
  stop(): Promise<ShutdownReport>;
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * Finds the HTTP server of the runtime this code runs in and loads its adapter: Bun's `serve` on Bun,
 * Deno's `serve` on Deno, `node:http` on Node. Nothing runtime-specific is imported until then.
 *
 * @returns The adapter.
 * @throws {TypeError} On hosts without a server API of their own (Cloudflare Workers, browsers):
 *   there the platform serves the app's `fetch` itself.
 *
 * @example
 * ```ts
 * import { detectServerAdapter } from "@edgekit/sd/hono";
 * import { assertEquals } from "@std/assert";
 *
 * const adapter = await detectServerAdapter(); // under Deno: Deno's serve
 * assertEquals(adapter.runtime, "deno");
 * ```
 */
export async function detectServerAdapter(): Promise<ServerAdapter> {
  const g = globalThis as Record<string, unknown>;
  const bun = g["Bun"] as { serve?: unknown } | undefined;
  if (typeof bun?.serve === "function") return (await import("./serve_bun.ts")).bunServer;
  const deno = g["Deno"] as { serve?: unknown } | undefined;
  if (typeof deno?.serve === "function") return (await import("./serve_deno.ts")).denoServer;
  const nav = g["navigator"] as { userAgent?: unknown } | undefined;
  const proc = g["process"] as { versions?: { node?: unknown } } | undefined;
  if (nav?.userAgent !== "Cloudflare-Workers" && typeof proc?.versions?.node === "string") {
    return (await import("./serve_node.ts")).nodeServer;
  }
  throw new TypeError(
    "No HTTP server API in this runtime: export the app's fetch and let the platform serve it",
  );
}

function instanceOf(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Serves `app`, registers it once the server listens, and takes it out cleanly on SIGTERM or SIGINT:
 *
 * 1. `health` becomes `"draining"` (its health route answers 503: registry checks see it leave);
 * 2. after `drainDelay`, the registrar deregisters (gateways stop picking this instance);
 * 3. the server stops accepting and the in-flight requests finish;
 * 4. the `onStop` hooks run, endpointers close, instancers stop (discovery ran until here);
 * 5. the process exits with 143 (SIGTERM) or 130 (SIGINT), or as `exit` says;
 *
 * all bounded by `timeout`; when it runs out, the open connections are dropped. A signal that
 * arrives while the server starts or registers is handled too: the listeners are installed first.
 *
 * Per runtime: Deno (`deno run`) serves with its `serve` and drains with `server.shutdown()`; Bun
 * with its `serve` and `server.stop()`; Node 20+ with `node:http`, whose `close()` waits for the
 * requests under way while idle keep-alive connections are closed. Not for `deno serve` (the module
 * exports the app and the runtime owns the server, aborting it on the signal itself, so requests in
 * flight cannot be drained there; use `gracefulShutdown` with a registrar there) nor for Workers
 * (no server, no signals).
 *
 * @param app The app: a Hono instance, or anything with `fetch(request)`.
 * @param options The registrar, where to listen and how to shut down.
 * @returns Once it listens and is registered.
 * @throws {TypeError} If an option has the wrong type, or the host is a wildcard without `advertise`.
 * @throws {RangeError} If `port`, `timeout` or `drainDelay` is out of range.
 * @throws Whatever the registrar's `register()` throws, after the server has been shut down.
 *
 * @example
 * ```ts
 * import { healthHandler, HealthState, serveRegistered } from "@edgekit/sd/hono";
 * import { MemoryRegistry } from "@edgekit/sd/memory";
 * import { assertEquals } from "@std/assert";
 * import { Hono } from "hono";
 *
 * using registry = new MemoryRegistry();
 * const health = new HealthState("starting");
 * const app = new Hono().get("/health", healthHandler(health)).get("/", (c) => c.text("hello"));
 *
 * const server = await serveRegistered(app, {
 *   hostname: "127.0.0.1",
 *   registrar: ({ instance }) => registry.registrar("hello", instance),
 *   health,
 *   source: null, // a program leaves this out: SIGTERM and SIGINT then start the shutdown
 * });
 * assertEquals(registry.instances("hello"), [server.address.instance]);
 * assertEquals(await (await fetch(`http://${server.address.instance}/`)).text(), "hello");
 *
 * await server.stop(); // what SIGTERM does, without the exit
 * assertEquals(health.state, "stopped");
 * assertEquals(registry.instances("hello"), []);
 * ```
 */
export async function serveRegistered<R extends SelfRegistrar>(
  app: FetchApp,
  options: ServeRegisteredOptions<R>,
): Promise<RegisteredServer<R>> {
  requireMethod(app, "fetch", "app");
  if (typeof options?.registrar !== "function") requireMethod(options?.registrar, "register", "registrar");
  const hostname = requireString(options.hostname ?? "0.0.0.0", "hostname");
  const port = requireNumber(options.port ?? 0, "port", { integer: true });
  if (port > 65535) throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);
  const advertise = options.advertise === undefined
    ? undefined
    : requireString(options.advertise, "advertise");
  if (advertise === undefined && WILDCARDS.has(hostname)) {
    throw new TypeError(
      `hostname "${hostname}" listens on every interface: set advertise to the address others reach this one at`,
    );
  }
  const drainDelay = requireNumber(options.drainDelay ?? 0, "drainDelay");
  const health = options.health;
  if (health !== undefined && !(health instanceof HealthState)) {
    throw new TypeError(`health must be a HealthState, got ${typeof health}`);
  }
  const logger = options.logger;
  const handler = async (request: Request, env: unknown): Promise<Response> => {
    try {
      return await app.fetch(request, env);
    } catch (error) {
      logger?.error("The app threw", { error, url: request.url });
      return new Response("Internal Server Error", { status: 500 });
    }
  };

  // Listen to signals before anything else, so a signal from now on is handled.
  const shutdown = await gracefulShutdown({
    ...(options.signals === undefined ? {} : { signals: options.signals }),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.exit === undefined ? {} : { exit: options.exit }),
    ...(options.onComplete === undefined ? {} : { onComplete: options.onComplete }),
    ...(logger === undefined ? {} : { logger }),
    ...(options.source === undefined ? {} : { source: options.source }),
  });
  let server: ListeningServer | undefined;
  try {
    const adapter = options.server ?? await detectServerAdapter();
    requireFunction(adapter.listen, "server.listen");
    server = await adapter.listen(handler, { hostname, port });
    const host = advertise ?? server.hostname;
    const address: ServeAddress = {
      hostname: server.hostname,
      port: server.port,
      host,
      instance: instanceOf(host, server.port),
    };
    const registrar = typeof options.registrar === "function"
      ? await options.registrar(address)
      : options.registrar;
    requireMethod(registrar, "register", "registrar");
    requireMethod(registrar, "deregister", "registrar");
    const drained = drainHook(server, health, logger);
    const listening = server;
    const leaving: SelfRegistrar = {
      async deregister(call) {
        health?.set("draining");
        logger?.info("Draining", { instance: address.instance });
        if (drainDelay > 0) await delay(drainDelay, call?.signal).catch(() => {});
        await registrar.deregister(call);
        logger?.info("Deregistered", { instance: address.instance });
      },
      register: (call) => registrar.register(call),
      stop: () => registrar.stop?.(),
    };
    if (shutdown.started) {
      // A signal arrived while the server started: leave without registering.
      await listening.shutdown();
      throw new StoppedError("The server");
    }
    shutdown.add({
      registrars: [leaving],
      onStop: [drained, ...hooksOf(options.onStop)],
      endpointers: options.endpointers ?? [],
      instancers: options.instancers ?? [],
    });
    health?.set("serving");
    await registrar.register();
    logger?.info("Registered", { instance: address.instance, runtime: adapter.runtime });
    const stop = () => shutdown.shutdown();
    return {
      runtime: adapter.runtime,
      address,
      registrar,
      shutdown,
      stop,
      [Symbol.asyncDispose]: async () => void await stop(),
    };
  } catch (error) {
    health?.set("stopped");
    if (!shutdown.started) {
      shutdown.close();
      await server?.shutdown().catch(() => {});
    }
    throw error;
  }
}

function hooksOf(onStop: ShutdownHook | Iterable<ShutdownHook> | undefined): ShutdownHook[] {
  if (onStop === undefined) return [];
  return typeof onStop === "function" ? [onStop] : [...onStop];
}

/** The hook that drains the server: waits for in-flight requests, drops them at the timeout. */
function drainHook(
  server: ListeningServer,
  health: HealthState | undefined,
  logger: Logger | undefined,
): ShutdownHook {
  return async ({ signal }) => {
    const onTimeout = () => {
      logger?.warn("Requests still in flight at the shutdown timeout; closing their connections", {});
      server.close();
    };
    // The deregistration may have used up the time already: then the drain starts and ends at once.
    const draining = server.shutdown();
    if (signal.aborted) onTimeout();
    else signal.addEventListener("abort", onTimeout, { once: true });
    try {
      await draining;
      logger?.info("In-flight requests finished", {});
    } finally {
      health?.set("stopped");
      signal.removeEventListener("abort", onTimeout);
    }
  };
}

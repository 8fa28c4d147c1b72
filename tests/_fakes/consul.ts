// A fake Consul agent as an injectable fetch, for fault injection on fake time. It keeps services with
// checks, answers /v1/health/service with blocking queries (index + wait; every write moves one global
// index and wakes every blocked query, as older Consul did, so unrelated churn is a "return that is
// not a change"), supports passing=, tag= and the subset of filter expressions the library sends,
// implements the agent's register/deregister/check-pass/service endpoints, records every request, and
// can be scripted to fail in the ways a real server does. Response bodies are tracked so tests can
// check that the client read or cancelled each one.
import { compileFilter, NODE, parseWait, toEntry, withDefaults } from "./consul_wire.ts";

export { compileFilter };

/** What the fake does instead of answering a request properly. */
export type ConsulFault =
  | "http500" // HTTP 500 "rpc error: No cluster leader"
  | "http403" // HTTP 403 "Permission denied"
  | "network" // fetch rejects with a TypeError, as for a refused connection
  | "stall" // never answers; rejects when the request's signal aborts, as fetch does
  | "stallBody" // headers, then a body that never ends (errors when the signal aborts)
  | "malformed" // HTTP 200 with a body that is not JSON
  | "wrongTypes" // HTTP 200, JSON whose Service.Port is a string
  | "huge" // HTTP 200, a valid-looking body of 20 MB streamed without content-length
  | "hugeDeclared" // HTTP 200 announcing content-length 50,000,000
  | "noIndex" // HTTP 200, a good body without X-Consul-Index
  | "ok" // answers normally (to place a fault after it)
  | { index: number; services?: FakeServiceInput[] } // answers at once with this X-Consul-Index (and these services)
  | { delay: number }; // (agent requests) applied and answered after `delay` ms, even if the client gave up

/** What {@linkcode FakeConsul.put} takes. */
export type FakeServiceInput = Partial<FakeService> & { id: string; name: string; port: number };

export interface FakeCheck {
  id: string;
  status: "passing" | "warning" | "critical";
  ttl?: string;
}

export interface FakeService {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weights?: { Passing: number; Warning: number };
  node: { name: string; address: string; datacenter: string };
  checks: FakeCheck[];
}

export interface RecordedConsulRequest {
  method: string;
  url: URL;
  path: string;
  headers: Headers;
  body: string | undefined;
  /** Date.now() when it arrived (fake time in unit tests). */
  at: number;
}

interface Parked {
  respond: () => void;
}

export class FakeConsul {
  /** The global index; every write increments it. */
  index = 10;
  readonly services = new Map<string, FakeService>();
  readonly requests: RecordedConsulRequest[] = [];
  /** X-Consul-Index of every health answer, in order (null when the header was left out). */
  readonly answeredIndexes: (number | null)[] = [];
  /** Faults for health queries, used in order, one per query. */
  readonly healthFaults: ConsulFault[] = [];
  /** Faults for agent requests (register, deregister, check pass, agent service), in order. */
  readonly agentFaults: ConsulFault[] = [];
  /** How a pass on an unknown check is answered: Consul 1.11+ says 404, older agents 500. */
  lostCheckStatus: 404 | 500 = 404;
  /** Added to every blocking wait, as Consul's jitter (up to wait/16). */
  jitter = 0;
  #parked = new Set<Parked>();
  #open = 0;

  /** The fetch to inject; called unbound. */
  readonly fetch = (input: Request | URL | string, init?: RequestInit): Promise<Response> =>
    this.#handle(input, init);

  /** Response bodies handed out and neither read to the end nor cancelled. */
  get openBodies(): number {
    return this.#open;
  }

  /** Blocking queries being held. */
  get parked(): number {
    return this.#parked.size;
  }

  /** Health queries received so far. */
  healthRequests(): RecordedConsulRequest[] {
    return this.requests.filter((r) => r.path.startsWith("/v1/health/service/"));
  }

  /** Adds or replaces a service (a write: moves the index, wakes blocked queries). */
  put(service: FakeServiceInput): void {
    this.services.set(service.id, withDefaults(service));
    this.#write();
  }

  /** Removes a service (a write). */
  remove(id: string): void {
    this.services.delete(id);
    this.#write();
  }

  /** Sets the status of every check of a service, adding one if it has none (a write). */
  setStatus(id: string, status: FakeCheck["status"]): void {
    const service = this.services.get(id);
    if (service === undefined) throw new Error(`no service ${id}`);
    if (service.checks.length === 0) service.checks.push({ id: `service:${id}`, status });
    for (const check of service.checks) check.status = status;
    this.#write();
  }

  /** A write that changes nothing anyone reads (another service, a KV key): wakes blocked queries. */
  touch(): void {
    this.#write();
  }

  /** An agent restart in dev mode: every registration is lost, and the index starts low again. */
  restart(index = 5): void {
    this.services.clear();
    this.index = index;
    this.#wake();
  }

  #write(): void {
    this.index++;
    this.#wake();
  }

  #wake(): void {
    const parked = [...this.#parked];
    this.#parked.clear();
    for (const p of parked) p.respond();
  }

  async #handle(input: Request | URL | string, init?: RequestInit): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? init.body : undefined;
    const signal = init?.signal ?? undefined;
    this.requests.push({
      method,
      url,
      path: url.pathname,
      headers: new Headers(init?.headers),
      body,
      at: Date.now(),
    });
    // A real fetch always settles asynchronously.
    await Promise.resolve();
    if (signal?.aborted) throw signal.reason;
    const isHealth = url.pathname.startsWith("/v1/health/service/");
    const fault = (isHealth ? this.healthFaults : this.agentFaults).shift();
    if (fault !== undefined) {
      if (fault === "noIndex") return this.#health(url, signal, null);
      if (typeof fault === "object" && "delay" in fault) {
        return this.#late(fault.delay, signal, method, url, body);
      }
      if (typeof fault === "object") return this.#health(url, signal, fault.index, fault.services);
      if (fault !== "ok") return this.#fault(fault, signal);
    }
    if (isHealth) return this.#health(url, signal);
    return this.#agent(method, url, body);
  }

  #fault(
    fault: Exclude<ConsulFault, object | "noIndex" | "ok">,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    switch (fault) {
      case "http500":
        return Promise.resolve(this.#text("rpc error: No cluster leader", 500));
      case "http403":
        return Promise.resolve(this.#text("Permission denied", 403));
      case "network":
        return Promise.reject(new TypeError("error sending request: connection refused"));
      case "stall":
        return new Promise((_, reject) => {
          if (signal === undefined) return;
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      case "stallBody":
        return Promise.resolve(this.#response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("[{"));
              signal?.addEventListener("abort", () => controller.error(signal.reason), { once: true });
            },
          }),
          { "x-consul-index": String(this.index) },
        ));
      case "malformed":
        return Promise.resolve(this.#text('[{"Node": {', 200, { "x-consul-index": String(this.index) }));
      case "wrongTypes":
        return Promise.resolve(this.#text(
          JSON.stringify([{
            Node: { Address: "10.0.0.1" },
            Service: { ID: "x", Service: "x", Port: "80" },
            Checks: [],
          }]),
          200,
          { "x-consul-index": String(this.index) },
        ));
      case "huge": {
        const chunk = new TextEncoder().encode(`[${" ".repeat(65_534)}`);
        let sent = 0;
        return Promise.resolve(this.#response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              sent++;
              if (sent > 320) controller.close();
              else controller.enqueue(chunk);
            },
          }),
          { "x-consul-index": String(this.index) },
        ));
      }
      case "hugeDeclared":
        return Promise.resolve(this.#text("[]", 200, {
          "x-consul-index": String(this.index),
          "content-length": "50000000",
        }));
    }
  }

  /**
   * An agent request the server applies after `ms`, as one that was already received: the client's
   * abort rejects its fetch at once, but the write still happens when the time is up.
   */
  #late(ms: number, signal: AbortSignal | undefined, method: string, url: URL, body: string | undefined) {
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        const response = this.#agent(method, url, body);
        if (signal?.aborted) void response.body?.cancel();
        else resolve(response);
      }, ms);
    });
  }

  /** A health answer; `forcedIndex` replaces X-Consul-Index (null: no header) and skips blocking. */
  async #health(
    url: URL,
    signal: AbortSignal | undefined,
    forcedIndex?: number | null,
    forcedServices?: FakeServiceInput[],
  ): Promise<Response> {
    const index = Number(url.searchParams.get("index") ?? 0);
    if (forcedIndex === undefined && index > 0 && index >= this.index) {
      const waitMs = parseWait(url.searchParams.get("wait")) ?? 300_000;
      await new Promise<void>((resolve, reject) => {
        const parked: Parked = {
          respond: () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          clearTimeout(timer);
          this.#parked.delete(parked);
          reject(signal?.reason);
        };
        const timer = setTimeout(() => {
          this.#parked.delete(parked);
          parked.respond();
        }, waitMs + this.jitter);
        this.#parked.add(parked);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    const filter = url.searchParams.get("filter");
    let match: (s: FakeService) => boolean;
    try {
      match = filter === null ? () => true : compileFilter(filter);
    } catch (error) {
      // What Consul 1.22 answers (a 500, not a 400).
      return this.#text(`Failed to create boolean expression evaluator: ${(error as Error).message}`, 500);
    }
    const name = decodeURIComponent(url.pathname.slice("/v1/health/service/".length));
    const tags = url.searchParams.getAll("tag");
    const passing = url.searchParams.has("passing");
    const services = forcedServices?.map(withDefaults) ?? [...this.services.values()];
    const entries = services
      .filter((s) => s.name === name)
      .filter((s) => tags.every((t) => s.tags.includes(t)))
      .filter((s) => !passing || s.checks.every((c) => c.status === "passing"))
      .filter(match)
      .sort((a, b) => (a.node.name + a.id < b.node.name + b.id ? -1 : 1))
      .map(toEntry);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-consul-knownleader": "true",
      "x-consul-lastcontact": "0",
    };
    if (forcedIndex !== null) headers["x-consul-index"] = String(forcedIndex ?? this.index);
    this.answeredIndexes.push(forcedIndex === null ? null : forcedIndex ?? this.index);
    return this.#text(JSON.stringify(entries), 200, headers);
  }

  #agent(method: string, url: URL, body: string | undefined): Response {
    const path = decodeURIComponent(url.pathname);
    if (method === "PUT" && path === "/v1/agent/service/register") {
      const def = JSON.parse(body ?? "{}");
      const id = def.ID || def.Name;
      const checks: FakeCheck[] = (def.Checks ?? []).map((c: Record<string, string>, i: number) => ({
        id: c["CheckID"] ?? `service:${id}:${i + 1}`,
        status: (c["Status"] as FakeCheck["status"]) ?? "critical",
        ...(c["TTL"] ? { ttl: c["TTL"] } : {}),
      }));
      const service: FakeService = {
        id,
        name: def.Name,
        address: def.Address ?? "",
        port: def.Port ?? 0,
        tags: def.Tags ?? [],
        meta: def.Meta ?? {},
        node: NODE,
        checks,
      };
      if (def.Weights) service.weights = def.Weights;
      this.services.set(id, service);
      this.#write();
      return this.#text("", 200);
    }
    if (method === "PUT" && path.startsWith("/v1/agent/service/deregister/")) {
      const id = path.slice("/v1/agent/service/deregister/".length);
      if (!this.services.has(id)) return this.#text(`Unknown service ID "${id}"`, 404);
      this.remove(id);
      return this.#text("", 200);
    }
    if (method === "PUT" && path.startsWith("/v1/agent/check/pass/")) {
      const id = path.slice("/v1/agent/check/pass/".length);
      const check = [...this.services.values()].flatMap((s) => s.checks).find((c) => c.id === id && c.ttl);
      if (check === undefined) {
        return this.lostCheckStatus === 404
          ? this.#text(
            `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`,
            404,
          )
          : this.#text(`CheckID "${id}" does not have associated TTL`, 500);
      }
      if (check.status !== "passing") {
        check.status = "passing";
        this.#write();
      }
      return this.#text("", 200);
    }
    if (method === "GET" && path.startsWith("/v1/agent/service/")) {
      const service = this.services.get(path.slice("/v1/agent/service/".length));
      if (service === undefined) return this.#text("unknown service ID", 404);
      return this.#text(JSON.stringify({ ID: service.id, Service: service.name, Port: service.port }), 200);
    }
    return this.#text("404 page not found", 404);
  }

  #text(text: string, status: number, headers: Record<string, string> = {}): Response {
    const bytes = new TextEncoder().encode(text);
    let done = false;
    return this.#response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (done || bytes.byteLength === 0) return controller.close();
          done = true;
          controller.enqueue(bytes);
        },
      }),
      headers,
      status,
    );
  }

  /** Wraps a body so that the fake knows when it has been read to the end or cancelled. */
  #response(source: ReadableStream<Uint8Array>, headers: Record<string, string>, status = 200): Response {
    this.#open++;
    let closed = false;
    const close = () => {
      if (!closed) this.#open--;
      closed = true;
    };
    const reader = source.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            close();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          close();
          controller.error(error);
        }
      },
      cancel(reason) {
        close();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status, headers });
  }
}

// A fake Eureka server as an injectable fetch, for fault injection. It keeps a small registry
// (applications, instances, status overrides, metadata, renewals), a recently-changed queue for
// /apps/delta and the reconcile hash code, and answers the REST calls the way Spring Cloud's server
// does (204 on register, 404 for an unknown application or instance, an empty 404 body). How lists,
// ports and `@enabled` are written is configurable, to exercise the XML-born JSON quirks. Every
// request is recorded; `script()` replaces the next answers to one route with faults.

/** What the fake does instead of answering one request normally. */
export type EurekaFault =
  | "network" // fetch rejects, as for a refused connection
  | "hang" // no answer; rejects when the request's signal aborts, as fetch does
  | "stallBody" // 200 and headers, then a body that never ends (errors when the signal aborts)
  | "http500" // 500 with a Spring error body
  | "http400" // 400
  | "notFound" // 404 with an empty body
  | "garbage" // 200 with a body that is not JSON
  | "wrongShape"; // 200 with JSON of the wrong shape

/** A scripted answer: a fault, a ready Response, or a function of the request. */
export type EurekaReply = EurekaFault | Response | ((request: EurekaRequest) => Response | Promise<Response>);

/** One request the fake received. */
export interface EurekaRequest {
  /** The server's origin, e.g. `http://a.test:8761`. */
  server: string;
  /** The full URL without its query. */
  url: string;
  method: string;
  /** The path after the base path, e.g. `/apps/USERS`. */
  path: string;
  /** `${method} ${path}`, the key `script()` uses. */
  route: string;
  query: URLSearchParams;
  /** The parsed JSON body, if any. */
  body: unknown;
  headers: Headers;
  /** `Date.now()` when it arrived (fake time in tests). */
  at: number;
  signal: AbortSignal | undefined;
}

/** How the fake writes its JSON. */
export interface EurekaShape {
  /** `array`: always arrays (Jackson codec); `single`: one item as an object (XStream-era JSON). */
  lists: "array" | "single";
  /** `object`: `{"$": 8080, "@enabled": "true"}`; `number`: `8080`; `string`: `"8080"`. */
  port: "object" | "number" | "string";
  /** How `@enabled` is written inside a port object. */
  enabled: "string" | "boolean";
}

/** An instance as the fake stores it. */
export interface FakeInstance {
  app: string;
  instanceId: string;
  hostName: string;
  ipAddr: string;
  status: string;
  overriddenStatus: string;
  port: number;
  portEnabled: boolean;
  securePort: number;
  securePortEnabled: boolean;
  vipAddress?: string;
  secureVipAddress?: string;
  metadata: Record<string, string>;
  dataCenterInfo: Record<string, unknown>;
  leaseInfo: Record<string, unknown>;
  lastDirtyTimestamp: string;
  /** `Date.now()` of the last registration or renewal. */
  renewedAt: number;
}

interface Change {
  at: number;
  action: "ADDED" | "MODIFIED" | "DELETED";
  instance: FakeInstance;
}

export type FakeInput = Partial<FakeInstance> & { app: string; instanceId: string };

/** A short instance for tests: `users-<n>` on 10.0.0.<n>:8080, UP. */
export function inst(n: number, extra: Partial<FakeInstance> = {}): FakeInput {
  return { app: "USERS", instanceId: `users-${n}`, ipAddr: `10.0.0.${n}`, port: 8080, ...extra };
}

/** The fake server. */
export class FakeEureka {
  /** Every request, in order. */
  readonly requests: EurekaRequest[] = [];
  /** The base path in front of `/apps`. */
  readonly base: string;
  shape: EurekaShape = { lists: "array", port: "object", enabled: "string" };
  /** How long changes stay in the delta queue, ms. */
  retention = 180_000;
  /** When set, /apps/delta reports this hash code instead of the true one (a server producing a mismatch). */
  deltaHashOverride: string | undefined;
  readonly #apps = new Map<string, Map<string, FakeInstance>>();
  #changes: Change[] = [];
  readonly #scripts = new Map<string, EurekaReply[]>();
  #version = 0;

  constructor(base = "/eureka") {
    this.base = base;
  }

  /** Adds or replaces an instance directly (recorded as ADDED in the delta queue). */
  put(input: FakeInput): FakeInstance {
    const app = input.app.toUpperCase();
    const instance: FakeInstance = {
      hostName: input.ipAddr ?? "host",
      ipAddr: "127.0.0.1",
      status: "UP",
      overriddenStatus: "UNKNOWN",
      port: 8080,
      portEnabled: true,
      securePort: 443,
      securePortEnabled: false,
      vipAddress: input.app.toLowerCase(),
      secureVipAddress: input.app.toLowerCase(),
      metadata: {},
      dataCenterInfo: { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", name: "MyOwn" },
      leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
      lastDirtyTimestamp: String(Date.now()),
      renewedAt: Date.now(),
      ...input,
      app,
    };
    let instances = this.#apps.get(app);
    if (instances === undefined) this.#apps.set(app, instances = new Map());
    instances.set(instance.instanceId, instance);
    this.#change("ADDED", instance);
    return instance;
  }

  /** Removes an instance directly (recorded as DELETED). */
  remove(app: string, id: string): boolean {
    const instances = this.#apps.get(app.toUpperCase());
    const instance = instances?.get(id);
    if (instances === undefined || instance === undefined) return false;
    instances.delete(id);
    if (instances.size === 0) this.#apps.delete(app.toUpperCase());
    this.#change("DELETED", instance);
    return true;
  }

  /** Changes an instance's status directly (recorded as MODIFIED). */
  setStatus(app: string, id: string, status: string): void {
    const instance = this.get(app, id);
    if (instance === undefined) throw new Error(`No instance ${app}/${id}`);
    instance.status = status;
    this.#change("MODIFIED", instance);
  }

  /** An instance, or undefined. */
  get(app: string, id: string): FakeInstance | undefined {
    return this.#apps.get(app.toUpperCase())?.get(id);
  }

  /** Every instance of an application. */
  instances(app: string): FakeInstance[] {
    return [...(this.#apps.get(app.toUpperCase())?.values() ?? [])];
  }

  /** Forgets every instance without a trace in the delta queue, as a restarted server does. */
  restart(): void {
    this.#apps.clear();
    this.#changes = [];
  }

  /** Empties the delta queue (as if the changes aged out) without touching the registry. */
  forgetChanges(): void {
    this.#changes = [];
  }

  /** The reconcile hash code of the whole registry. */
  hashCode(): string {
    const counts = new Map<string, number>();
    for (const instances of this.#apps.values()) {
      for (const i of instances.values()) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
    }
    return [...counts.keys()].sort().map((k) => `${k}_${counts.get(k)}_`).join("");
  }

  /** Replaces the next answers to `route` (e.g. `GET /apps/USERS`) with these replies, in order. */
  script(route: string, ...replies: EurekaReply[]): void {
    const queue = this.#scripts.get(route) ?? [];
    queue.push(...replies);
    this.#scripts.set(route, queue);
  }

  /** The requests whose route is `route` (e.g. `PUT /apps/USERS/users-1`). */
  calls(route: string): EurekaRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** The fetch to give the client. */
  readonly fetch = async (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const text = request.body === null ? "" : await request.text();
    const path = url.pathname.startsWith(this.base) ? url.pathname.slice(this.base.length) : url.pathname;
    const record: EurekaRequest = {
      server: url.origin,
      url: `${url.origin}${url.pathname}`,
      method: request.method,
      path,
      route: `${request.method} ${path}`,
      query: url.searchParams,
      body: text === "" ? undefined : JSON.parse(text),
      headers: request.headers,
      at: Date.now(),
      signal: init?.signal ?? undefined,
    };
    this.requests.push(record);
    const scripted = this.#scripts.get(record.route)?.shift();
    if (scripted !== undefined) return await this.#reply(scripted, record);
    if (!url.pathname.startsWith(`${this.base}/apps`)) {
      return new Response("<html><body>Whitelabel Error Page</body></html>", { status: 404 });
    }
    return this.#route(record);
  };

  async #reply(reply: EurekaReply, request: EurekaRequest): Promise<Response> {
    if (reply instanceof Response) return reply;
    if (typeof reply === "function") return await reply(request);
    switch (reply) {
      case "network":
        throw new TypeError("error sending request: Connection refused (os error 111)");
      case "hang":
        return await new Promise<Response>((_, reject) => {
          const signal = request.signal;
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      case "stallBody": {
        const signal = request.signal;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"applications":'));
            signal?.addEventListener("abort", () => controller.error(signal.reason), { once: true });
          },
        });
        return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
      }
      case "http500":
        return Response.json({ status: 500, error: "Internal Server Error", path: request.path }, {
          status: 500,
        });
      case "http400":
        return new Response("", { status: 400 });
      case "notFound":
        return new Response(null, { status: 404 });
      case "garbage":
        return new Response("<?xml version='1.0'?><applications>", { status: 200 });
      case "wrongShape":
        return Response.json({ apps: [] });
    }
  }

  #route(r: EurekaRequest): Response {
    const parts = r.path.split("/").filter((p) => p !== "").map(decodeURIComponent);
    // parts[0] === "apps"
    if (r.method === "GET" && parts.length === 1) return this.#applications([...this.#apps.values()]);
    if (r.method === "GET" && parts.length === 2 && parts[1] === "delta") return this.#delta();
    const app = parts[1]?.toUpperCase() ?? "";
    const id = parts[2];
    if (parts.length === 2) {
      if (r.method === "GET") {
        const instances = this.#apps.get(app);
        if (instances === undefined) return new Response(null, { status: 404 });
        return Response.json({ application: this.#application(app, [...instances.values()]) });
      }
      if (r.method === "POST") return this.#register(app, r.body);
    }
    const instance = id === undefined ? undefined : this.#apps.get(app)?.get(id);
    if (parts.length === 3) {
      if (instance === undefined) return new Response(null, { status: 404 });
      if (r.method === "GET") return Response.json({ instance: this.#render(instance) });
      if (r.method === "PUT") {
        instance.renewedAt = Date.now();
        return new Response(null, { status: 200 });
      }
      if (r.method === "DELETE") {
        this.remove(app, id!);
        return new Response(null, { status: 200 });
      }
    }
    if (parts.length === 4 && instance !== undefined) {
      const value = r.query.get("value") ?? "";
      if (parts[3] === "status" && r.method === "PUT") {
        instance.overriddenStatus = value;
        instance.status = value;
        this.#change("MODIFIED", instance);
        return new Response(null, { status: 200 });
      }
      if (parts[3] === "status" && r.method === "DELETE") {
        if (instance.overriddenStatus !== "UNKNOWN") {
          instance.overriddenStatus = "UNKNOWN";
          instance.status = value || "UNKNOWN";
          this.#change("MODIFIED", instance);
        }
        return new Response(null, { status: 200 });
      }
      if (parts[3] === "metadata" && r.method === "PUT") {
        for (const [k, v] of r.query) instance.metadata[k] = v;
        this.#change("MODIFIED", instance);
        return new Response(null, { status: 200 });
      }
    }
    if (parts.length === 4) return new Response(null, { status: 404 });
    return new Response(null, { status: 405 });
  }

  /** Registration, as strict as the real servers about the fields they need. */
  #register(app: string, body: unknown): Response {
    const i = (body as { instance?: Record<string, unknown> } | undefined)?.instance;
    const dc = i?.["dataCenterInfo"] as Record<string, unknown> | undefined;
    const port = i?.["port"] as Record<string, unknown> | undefined;
    const secure = i?.["securePort"] as Record<string, unknown> | undefined;
    if (
      i === undefined || typeof i["instanceId"] !== "string" || typeof i["hostName"] !== "string" ||
      typeof i["ipAddr"] !== "string" || typeof i["status"] !== "string" ||
      typeof dc?.["@class"] !== "string" ||
      typeof dc?.["name"] !== "string" || typeof port?.["@enabled"] !== "string" || String(i["app"]) !== app
    ) {
      return Response.json({ error: "Bad Request", message: "Missing or malformed instance" }, {
        status: 400,
      });
    }
    const override = String(i["overriddenStatus"] ?? "UNKNOWN");
    this.put({
      app,
      instanceId: i["instanceId"] as string,
      hostName: i["hostName"] as string,
      ipAddr: i["ipAddr"] as string,
      status: override !== "UNKNOWN" ? override : i["status"] as string,
      overriddenStatus: override,
      port: Number(port["$"]),
      portEnabled: port["@enabled"] === "true",
      securePort: Number(secure?.["$"] ?? 443),
      securePortEnabled: secure?.["@enabled"] === "true",
      vipAddress: i["vipAddress"] as string,
      secureVipAddress: i["secureVipAddress"] as string,
      metadata: { ...(i["metadata"] as Record<string, string> | undefined) },
      dataCenterInfo: dc,
      leaseInfo: i["leaseInfo"] as Record<string, unknown>,
      lastDirtyTimestamp: String(i["lastDirtyTimestamp"]),
    });
    return new Response(null, { status: 204 });
  }

  #change(action: Change["action"], instance: FakeInstance): void {
    this.#version++;
    this.#changes.push({
      at: Date.now(),
      action,
      instance: { ...instance, metadata: { ...instance.metadata } },
    });
  }

  #list<T>(items: T[]): T[] | T {
    return this.shape.lists === "single" && items.length === 1 ? items[0]! : items;
  }

  #port(port: number, enabled: boolean): unknown {
    if (this.shape.port === "number") return port;
    if (this.shape.port === "string") return String(port);
    return { $: port, "@enabled": this.shape.enabled === "string" ? String(enabled) : enabled };
  }

  #render(i: FakeInstance, action: Change["action"] = "ADDED"): Record<string, unknown> {
    return {
      instanceId: i.instanceId,
      hostName: i.hostName,
      app: i.app,
      ipAddr: i.ipAddr,
      status: i.status,
      overriddenStatus: i.overriddenStatus,
      port: this.#port(i.port, i.portEnabled),
      securePort: this.#port(i.securePort, i.securePortEnabled),
      countryId: 1,
      dataCenterInfo: i.dataCenterInfo,
      leaseInfo: i.leaseInfo,
      metadata: Object.keys(i.metadata).length === 0
        ? { "@class": "java.util.Collections$EmptyMap" }
        : i.metadata,
      vipAddress: i.vipAddress,
      secureVipAddress: i.secureVipAddress,
      isCoordinatingDiscoveryServer: "false",
      lastUpdatedTimestamp: String(i.renewedAt),
      lastDirtyTimestamp: i.lastDirtyTimestamp,
      actionType: action,
    };
  }

  #application(name: string, instances: FakeInstance[]): Record<string, unknown> {
    return { name, instance: this.#list(instances.map((i) => this.#render(i))) };
  }

  #applications(apps: Map<string, FakeInstance>[]): Response {
    const application = apps.map((instances) => {
      const list = [...instances.values()];
      return this.#application(list[0]!.app, list);
    });
    return Response.json({
      applications: {
        versions__delta: String(this.#version),
        apps__hashcode: this.hashCode(),
        application: this.#list(application),
      },
    });
  }

  #delta(): Response {
    const since = Date.now() - this.retention;
    // Like the real server: one entry per instance, with its latest change.
    const byApp = new Map<string, Map<string, Record<string, unknown>>>();
    for (const change of this.#changes) {
      if (change.at < since) continue;
      const map = byApp.get(change.instance.app) ?? new Map();
      map.delete(change.instance.instanceId);
      map.set(change.instance.instanceId, this.#render(change.instance, change.action));
      byApp.set(change.instance.app, map);
    }
    const application = [...byApp].map(([name, instances]) => ({
      name,
      instance: this.#list([...instances.values()]),
    }));
    return Response.json({
      applications: {
        versions__delta: String(this.#version),
        apps__hashcode: this.deltaHashOverride ?? this.hashCode(),
        application: this.#list(application),
      },
    });
  }
}

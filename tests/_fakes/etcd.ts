// A fake etcd v3 JSON gateway as an injectable fetch, for fault injection. It keeps a small store
// (keys, revisions, history, leases, compaction) and answers range/put/deleterange/lease/auth calls
// the way the real gateway does (base64, int64 strings, omitted zero values, error bodies). Watch
// streams are ReadableStreams the test drives: by default the fake sends `created`, replays history
// from `start_revision` and then every change as it happens; with `autoWatch = false` nothing is
// sent until the test does. Every request is recorded; `script()` replaces the next answers to one
// path with faults.

import {
  b64,
  deleteEvent,
  errorResponse,
  type EtcdRequest,
  FakeWatch,
  header,
  putEvent,
  unb64,
} from "./etcd_watch.ts";

export { b64, deleteEvent, errorResponse, type EtcdRequest, FakeWatch, header, putEvent, unb64 };

/** What the fake does instead of answering one request normally. */
export type EtcdFault =
  | "network" // fetch rejects, as for a refused connection
  | "hang" // no answer; rejects when the request's signal aborts, as fetch does
  | "stallBody" // 200 and headers, then a body that never ends (errors when the signal aborts)
  | "http500" // 500 with a gRPC-style error body
  | "http503" // 503 "etcdserver: no leader"
  | "http400" // 400 "etcdserver: bad request"
  | "garbage" // 200 with a body that is not JSON
  | "notObject" // 200 with a JSON array
  | "notFound"; // 404 "404 page not found" (plain text), as for an unknown gateway prefix

/** A scripted answer: a fault, a ready Response, or a function of the request. */
export type EtcdReply = EtcdFault | Response | ((request: EtcdRequest) => Response | Promise<Response>);
const encoder = new TextEncoder();

interface Stored {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

interface HistoryEvent {
  type: "PUT" | "DELETE";
  key: string;
  value: string;
  revision: number;
}

/** The fake gateway. Pass {@linkcode FakeEtcd.fetch} as the client's `fetch`. */
export class FakeEtcd {
  /** Every request, in arrival order. */
  readonly requests: EtcdRequest[] = [];
  /** Every watch opened, in order. */
  readonly watches: FakeWatch[] = [];
  /** The gateway prefix this server serves; others answer 404 "404 page not found". */
  prefix = "/v3";
  /** When false, watches send nothing by themselves (the test drives them). Default: true. */
  autoWatch = true;
  /** Members that refuse connections. */
  readonly down = new Set<string>();
  /** When set, authentication is on with these users and passwords. */
  users: Map<string, string> | undefined;
  /** Tokens handed out and still valid. */
  readonly tokens = new Set<string>();
  /** The store's revision. */
  revision = 1;
  /** Revisions at and below this are compacted away. */
  compacted = 0;
  /** Leases alive, by ID, with their TTL. */
  readonly leases = new Map<string, number>();
  readonly #kvs = new Map<string, Stored>();
  readonly #history: HistoryEvent[] = [];
  readonly #script = new Map<string, EtcdReply[]>();
  #nextLease = 7587869127315596296n;
  #nextToken = 1;

  /** The next answers to `path` (e.g. `/kv/range`) are these, in order; then normal answers resume. */
  script(path: string, ...replies: EtcdReply[]): this {
    this.#script.set(path, [...(this.#script.get(path) ?? []), ...replies]);
    return this;
  }

  /** The paths requested, in order (e.g. `["/kv/range", "/watch"]`). */
  paths(): string[] {
    return this.requests.map((r) => r.path);
  }

  /** The requests to `path`. */
  calls(path: string): EtcdRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** The value of `key`, or undefined. */
  get(key: string): string | undefined {
    return this.#kvs.get(key)?.value;
  }

  /** The lease `key` is attached to ("0" for none), or undefined if absent. */
  leaseOf(key: string): string | undefined {
    return this.#kvs.get(key)?.lease;
  }

  /** Writes a key as another client would; live watches see it. Returns the revision. */
  put(key: string, value: string, lease = "0"): number {
    const revision = ++this.revision;
    const old = this.#kvs.get(key);
    this.#kvs.set(key, {
      value,
      createRevision: old?.createRevision ?? revision,
      modRevision: revision,
      version: (old?.version ?? 0) + 1,
      lease,
    });
    this.#record({ type: "PUT", key, value, revision });
    return revision;
  }

  /** Deletes keys as another client would. Returns how many were deleted. */
  delete(...keys: string[]): number {
    const present = keys.filter((k) => this.#kvs.has(k));
    if (present.length === 0) return 0;
    const revision = ++this.revision;
    for (const key of present) {
      this.#kvs.delete(key);
      this.#record({ type: "DELETE", key, value: "", revision });
    }
    return present.length;
  }

  /** Revokes (or expires) a lease, deleting its keys. */
  expire(lease: string): void {
    this.leases.delete(lease);
    const keys = [...this.#kvs].filter(([, s]) => s.lease === lease).map(([k]) => k);
    this.delete(...keys);
  }

  /** Compacts history up to `revision`. */
  compact(revision = this.revision): void {
    this.compacted = revision;
    const kept = this.#history.filter((e) => e.revision > revision);
    this.#history.splice(0, this.#history.length, ...kept);
  }

  /**
   * Loses every piece of state, as etcd restarted on a fresh data dir: keys, history, leases and
   * tokens are gone, the revision starts again at 1, and open watch streams break (the process went
   * away). Lease IDs go on from where they were (etcd's are time-based, so they differ after a restart).
   */
  wipe(): void {
    for (const watch of this.openWatches()) watch.fail(new TypeError("connection reset by peer"));
    this.#kvs.clear();
    this.#history.splice(0);
    this.leases.clear();
    this.tokens.clear();
    this.revision = 1;
    this.compacted = 0;
  }

  /** The watches not yet closed. */
  openWatches(): FakeWatch[] {
    return this.watches.filter((w) => !w.closed);
  }

  /** A fetch function; bind-free, so it can be passed as is. */
  readonly fetch = async (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const signal = init?.signal ?? undefined;
    const url = new URL(request.url);
    const text = await request.text();
    const prefix = ["/v3alpha", "/v3beta", "/v3"].find((p) => url.pathname.startsWith(`${p}/`)) ?? "";
    const recorded: EtcdRequest = {
      endpoint: url.origin,
      prefix,
      path: url.pathname.slice(prefix.length),
      body: text === "" ? {} : JSON.parse(text),
      authorization: request.headers.get("authorization"),
      at: Date.now(),
      signal,
    };
    this.requests.push(recorded);
    if (signal?.aborted) throw signal.reason;
    if (this.down.has(url.origin)) {
      throw new TypeError(`error sending request for url (${url.href}): Connection refused`);
    }
    if (prefix !== this.prefix) return notFound();
    const queued = this.#script.get(recorded.path);
    const reply = queued?.shift();
    if (reply !== undefined) return await this.#fault(reply, recorded);
    return this.#answer(recorded);
  };

  /** The normal answer to a recorded request (for scripts that act and then answer normally). */
  respond(request: EtcdRequest): Response {
    return this.#answer(request);
  }

  async #fault(reply: EtcdReply, request: EtcdRequest): Promise<Response> {
    if (reply instanceof Response) return reply;
    if (typeof reply === "function") return await reply(request);
    const signal = request.signal;
    switch (reply) {
      case "network":
        throw new TypeError(`error sending request for url (${request.endpoint}): Connection refused`);
      case "hang":
        return await new Promise<Response>((_, reject) => {
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      case "stallBody": {
        let controller!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            controller = c;
            c.enqueue(encoder.encode('{"header":'));
          },
        });
        signal?.addEventListener("abort", () => controller.error(signal.reason), { once: true });
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      case "http500":
        return errorResponse(500, "etcdserver: internal error", 13);
      case "http503":
        return errorResponse(503, "etcdserver: no leader", 14);
      case "http400":
        return errorResponse(400, "etcdserver: bad request", 3);
      case "garbage":
        return new Response("{not json", { headers: { "content-type": "application/json" } });
      case "notObject":
        return Response.json([1, 2, 3]);
      case "notFound":
        return notFound();
    }
  }

  #answer(request: EtcdRequest): Response {
    const { path, body } = request;
    if (path === "/auth/authenticate") return this.#authenticate(body);
    const refusal = this.#checkAuth(request);
    if (refusal !== undefined && path !== "/watch") return refusal;
    switch (path) {
      case "/kv/range": {
        const kvs = [...this.#kvs]
          .filter(([k]) => inRange(k, body))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, s]) => kvJson(k, s));
        const out: Record<string, unknown> = { header: header(this.revision) };
        if (kvs.length > 0) {
          out["kvs"] = kvs;
          out["count"] = String(kvs.length);
        }
        return Response.json(out);
      }
      case "/kv/put": {
        const lease = body["lease"] === undefined ? "0" : String(body["lease"]);
        if (lease !== "0" && !this.leases.has(lease)) {
          return errorResponse(404, "etcdserver: requested lease not found", 5);
        }
        this.put(unb64(String(body["key"])), unb64(String(body["value"] ?? "")), lease);
        return Response.json({ header: header(this.revision) });
      }
      case "/kv/deleterange": {
        const n = this.delete(...[...this.#kvs.keys()].filter((k) => inRange(k, body)));
        const out: Record<string, unknown> = { header: header(this.revision) };
        if (n > 0) out["deleted"] = String(n);
        return Response.json(out);
      }
      case "/lease/grant": {
        const id = String(this.#nextLease++);
        const ttl = Number(body["TTL"]);
        this.leases.set(id, ttl);
        return Response.json({ header: header(this.revision), ID: id, TTL: String(ttl) });
      }
      case "/lease/keepalive": {
        const id = String(body["ID"]);
        const result: Record<string, unknown> = { header: header(this.revision), ID: id };
        const ttl = this.leases.get(id);
        if (ttl !== undefined) result["TTL"] = String(ttl);
        return Response.json({ result });
      }
      case "/lease/revoke": {
        const id = String(body["ID"]);
        if (!this.leases.has(id)) return errorResponse(404, "etcdserver: requested lease not found", 5);
        this.expire(id);
        return Response.json({ header: header(this.revision) });
      }
      case "/watch":
        return this.#watch(request, refusal !== undefined);
      default:
        return notFound();
    }
  }

  #watch(request: EtcdRequest, refused: boolean): Response {
    const watch = new FakeWatch(request);
    this.watches.push(watch);
    if (refused) {
      watch.send({
        header: header(this.revision),
        watch_id: "-1",
        created: true,
        canceled: true,
        cancel_reason: "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token",
      });
      return watch.response;
    }
    if (!this.autoWatch) return watch.response;
    watch.created(this.revision);
    const start = Number(watch.startRevision ?? 0);
    if (start > 0 && start <= this.compacted) {
      watch.canceled(this.compacted);
      return watch.response;
    }
    if (start > 0) {
      for (const event of this.#history) {
        if (event.revision >= start && watch.covers(event.key)) {
          watch.events(event.revision, eventJson(event));
        }
      }
    }
    return watch.response;
  }

  #record(event: HistoryEvent): void {
    this.#history.push(event);
    if (!this.autoWatch) return;
    for (const watch of this.openWatches()) {
      if (watch.covers(event.key)) watch.events(event.revision, eventJson(event));
    }
  }

  #authenticate(body: Record<string, unknown>): Response {
    const password = this.users?.get(String(body["name"]));
    if (password === undefined || password !== body["password"]) {
      return errorResponse(400, "etcdserver: authentication failed, invalid user ID or password", 3);
    }
    const token = `token-${this.#nextToken++}`;
    this.tokens.add(token);
    return Response.json({ header: header(this.revision), token });
  }

  #checkAuth(request: EtcdRequest): Response | undefined {
    if (this.users === undefined) return undefined;
    if (request.authorization === null) return errorResponse(400, "etcdserver: user name is empty", 3);
    if (!this.tokens.has(request.authorization)) {
      return errorResponse(401, "etcdserver: invalid auth token", 16);
    }
    return undefined;
  }
}

function notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function inRange(key: string, body: Record<string, unknown>): boolean {
  const from = unb64(String(body["key"]));
  if (body["range_end"] === undefined) return key === from;
  const to = unb64(String(body["range_end"]));
  return key >= from && (to === "\0" || key < to);
}

function kvJson(key: string, s: Stored): Record<string, unknown> {
  const kv: Record<string, unknown> = {
    key: b64(key),
    create_revision: String(s.createRevision),
    mod_revision: String(s.modRevision),
    version: String(s.version),
  };
  if (s.value !== "") kv["value"] = b64(s.value);
  if (s.lease !== "0") kv["lease"] = s.lease;
  return kv;
}

function eventJson(event: HistoryEvent): Record<string, unknown> {
  return event.type === "PUT"
    ? putEvent(event.key, event.value, event.revision)
    : deleteEvent(event.key, event.revision);
}

// The watch side of the fake etcd gateway (tests/_fakes/etcd.ts): message builders and FakeWatch, a
// streaming response body the test (or the fake's store) writes newline-delimited JSON into.

/** One request the fake received. */
export interface EtcdRequest {
  /** The member's origin, e.g. `http://a:2379`. */
  endpoint: string;
  /** The gateway prefix used, e.g. `/v3`. */
  prefix: string;
  /** The path after the prefix, e.g. `/kv/range`. */
  path: string;
  /** The JSON body. */
  body: Record<string, unknown>;
  /** The `authorization` header. */
  authorization: string | null;
  /** `Date.now()` when it arrived (fake time in tests). */
  at: number;
  /** The request's signal. */
  signal: AbortSignal | undefined;
}

const encoder = new TextEncoder();

/** UTF-8 text to base64, independent of src/. */
export function b64(text: string): string {
  return btoa(String.fromCharCode(...encoder.encode(text)));
}

/** base64 to UTF-8 text. */
export function unb64(text: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
}

/** A watch event line's `events[]` entry for a put (type omitted: PUT is proto3's zero value). */
export function putEvent(key: string, value: string, revision: number): Record<string, unknown> {
  return {
    kv: {
      key: b64(key),
      create_revision: String(revision),
      mod_revision: String(revision),
      version: "1",
      value: b64(value),
    },
  };
}

/** A watch event line's `events[]` entry for a delete. */
export function deleteEvent(key: string, revision: number): Record<string, unknown> {
  return { type: "DELETE", kv: { key: b64(key), mod_revision: String(revision) } };
}

/** A gateway response header at `revision` (omitted when 0, as the gateway does). */
export function header(revision: number): Record<string, unknown> {
  const h: Record<string, unknown> = {
    cluster_id: "16968896190503157282",
    member_id: "17292838715412787816",
    raft_term: "2",
  };
  if (revision !== 0) h["revision"] = String(revision);
  return h;
}

/** A gRPC-gateway error response. */
export function errorResponse(status: number, message: string, code: number): Response {
  return Response.json({ error: message, message, code }, { status });
}

/** One open watch stream, driven by the test or by the fake's store. */
export class FakeWatch {
  /** The request that opened it. */
  readonly request: EtcdRequest;
  /** Its `create_request`. */
  readonly create: Record<string, unknown>;
  /** The response whose body is this stream. */
  readonly response: Response;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  #cancelled = false;
  readonly #from: string;
  readonly #to: string | undefined;

  constructor(request: EtcdRequest) {
    this.request = request;
    this.create = (request.body["create_request"] ?? {}) as Record<string, unknown>;
    this.#from = unb64(String(this.create["key"] ?? ""));
    const end = this.create["range_end"];
    this.#to = end === undefined ? undefined : unb64(String(end));
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        this.#cancelled = true;
      },
    });
    const signal = request.signal;
    signal?.addEventListener("abort", () => this.fail(signal.reason), { once: true });
    this.response = new Response(stream, { headers: { "content-type": "application/json" } });
  }

  /** `start_revision` as sent (undefined when omitted). */
  get startRevision(): string | undefined {
    return this.create["start_revision"] as string | undefined;
  }

  /** Whether the stream is over (ended, failed or cancelled by the client). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the client cancelled the body (or aborted the request). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Whether `key` falls in the watched range. */
  covers(key: string): boolean {
    if (this.#to === undefined) return key === this.#from;
    return key >= this.#from && (this.#to === "\0" || key < this.#to);
  }

  /** Sends raw text (no newline added). */
  raw(text: string): void {
    if (this.#closed) return;
    this.#controller.enqueue(encoder.encode(text));
  }

  /** Sends `{"result": result}` and a newline. */
  send(result: Record<string, unknown>): void {
    this.raw(`${JSON.stringify({ result })}\n`);
  }

  /** Sends the `created` message. */
  created(revision: number): void {
    this.send({ header: header(revision), created: true });
  }

  /** Sends events at `revision`. */
  events(revision: number, ...events: Record<string, unknown>[]): void {
    this.send({ header: header(revision), events });
  }

  /** Sends a progress notification (a header and nothing else). */
  progress(revision: number): void {
    this.send({ header: header(revision) });
  }

  /** Sends a cancellation, with a compaction revision if given (the header has no revision then). */
  canceled(compactRevision?: number, reason?: string): void {
    const result: Record<string, unknown> = { header: header(0), canceled: true };
    if (compactRevision !== undefined) result["compact_revision"] = String(compactRevision);
    if (reason !== undefined) result["cancel_reason"] = reason;
    this.send(result);
  }

  /** Sends the error line a stopping server sends, then ends the stream. */
  serverError(message = "transport is closing"): void {
    this.raw(
      `${
        JSON.stringify({
          error: { grpc_code: 14, http_code: 503, message, http_status: "Service Unavailable" },
        })
      }\n`,
    );
    this.end();
  }

  /** Ends the stream cleanly. */
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
  }

  /** Breaks the stream, as a reset connection does. */
  fail(reason: unknown = new TypeError("connection reset")): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelled = this.#cancelled || this.request.signal?.aborted === true;
    this.#controller.error(reason);
  }
}

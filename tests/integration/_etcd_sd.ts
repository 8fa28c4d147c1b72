// Helpers for the etcd backend's real-server tests (tests/integration/etcd_*_test.ts): a fetch that
// records what the library sends and can cut the network between it and etcd (a partition), bounded
// real-time waits, and an event recorder.
import type { DiscoveryEvent, Instancer } from "../../src/types.ts";

/** One request the library made, as the gate saw it. */
export interface GateRequest {
  /** The member's origin. */
  endpoint: string;
  /** The URL path, e.g. `/v3/watch`. */
  path: string;
  /** The JSON body. */
  body: Record<string, unknown>;
  /** `Date.now()` when it was sent. */
  at: number;
  /** {@linkcode Gate.delivered} when it was sent. */
  delivered: string | undefined;
}

/**
 * A fetch in front of the real one. `cut()` aborts every request in flight (open watch streams
 * break as when a connection resets) and refuses new ones until `heal()`, like a network partition
 * between this client and etcd while etcd itself stays up. It also reads what etcd delivered, as an
 * oracle for where a watcher must resume: `delivered` is the revision of the last range answer, event
 * or progress notification that reached the client.
 */
export class Gate {
  /** Every request, in order. */
  readonly requests: GateRequest[] = [];
  /** The last revision etcd told the client about (range header, last event, progress header). */
  delivered: string | undefined;
  #down = false;
  #cut = new AbortController();

  /** Whether the partition is on. */
  get down(): boolean {
    return this.#down;
  }

  /** Starts the partition. */
  cut(): void {
    this.#down = true;
    this.#cut.abort(new TypeError("network partition"));
    this.#cut = new AbortController();
  }

  /** Ends the partition. */
  heal(): void {
    this.#down = false;
  }

  /** The requests to a path ending with `suffix` (e.g. `/watch`). */
  calls(suffix: string): GateRequest[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  /** `start_revision` of every watch request, in order. */
  watchStarts(): (string | undefined)[] {
    return this.calls("/watch").map((r) => startOf(r));
  }

  /** The fetch to give the client. */
  readonly fetch = async (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const text = typeof init?.body === "string" ? init.body : "";
    this.requests.push({
      endpoint: url.origin,
      path: url.pathname,
      body: text === "" ? {} : JSON.parse(text),
      at: Date.now(),
      delivered: this.delivered,
    });
    if (this.#down) throw new TypeError(`network partition: ${url.href}`);
    const signal = init?.signal ? AbortSignal.any([init.signal, this.#cut.signal]) : this.#cut.signal;
    const response = await fetch(input, { ...init, signal });
    if (response.status !== 200 || response.body === null) return response;
    if (url.pathname.endsWith("/kv/range")) {
      const body = await response.text();
      const revision = (JSON.parse(body) as { header?: { revision?: string } }).header?.revision;
      if (revision !== undefined) this.delivered = revision;
      return new Response(body, { status: 200, headers: response.headers });
    }
    if (!url.pathname.endsWith("/watch")) return response;
    // Pass the stream through, reading each complete line on the way (cancellation flows back).
    let buffer = "";
    const decoder = new TextDecoder();
    const observe = new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          this.#saw(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
        }
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(observe), { status: 200, headers: response.headers });
  };

  #saw(line: string): void {
    if (line.trim() === "") return;
    const result = (JSON.parse(line) as { result?: WatchResult }).result;
    if (result === undefined || result.canceled || result.created) return;
    const events = result.events ?? [];
    const revision = events.length > 0 ? events[events.length - 1]!.kv.mod_revision : result.header?.revision;
    if (revision !== undefined) this.delivered = revision;
  }
}

interface WatchResult {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  events?: { kv: { mod_revision?: string } }[];
}

/** The `start_revision` a watch request asked for. */
export function startOf(request: GateRequest): string | undefined {
  return (request.body["create_request"] as Record<string, unknown> | undefined)?.["start_revision"] as
    | string
    | undefined;
}

/** `revision` + 1, for decimal int64 strings. */
export function next(revision: string | undefined): string {
  if (revision === undefined) throw new Error("No revision delivered yet");
  return String(BigInt(revision) + 1n);
}

/** Sleeps `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 20 ms until it returns true; throws naming `what` after `ms`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** One line per event: `[a,b]` for instances, `error:<name>` for a failure. */
export function summary(event: DiscoveryEvent): string {
  return event.error !== undefined ? `error:${event.error.name}` : `[${event.instances.join(",")}]`;
}

/** Subscribes to `instancer` and keeps every event, summarised, with helpers to wait for states. */
export class Recorder {
  readonly events: string[] = [];

  constructor(instancer: Instancer) {
    instancer.subscribe((event) => void this.events.push(summary(event)));
  }

  /** The last event, summarised. */
  get last(): string | undefined {
    return this.events.at(-1);
  }

  /** Waits until the last event is `state` (e.g. `[a,b]`). */
  until(state: string, ms = 5000): Promise<void> {
    return waitFor(
      `the state ${state} (events so far: ${this.events.join(" ")})`,
      () => this.last === state,
      ms,
    );
  }

  /** Waits until some event from index `from` on matches `pattern`. */
  seen(pattern: RegExp, from = 0, ms = 5000): Promise<void> {
    return waitFor(
      `an event matching ${pattern} (events so far: ${this.events.join(" ")})`,
      () => this.events.slice(from).some((e) => pattern.test(e)),
      ms,
    );
  }
}

/**
 * Samples an endpointer every 10 ms, counting the samples that found it empty (the restart tests
 * assert it never is while live instances re-register). `stop()` clears the timer.
 */
export function sampleEmpty(endpointer: { endpoints(): readonly unknown[] }): {
  readonly samples: number;
  readonly empty: number;
  stop(): void;
} {
  let samples = 0;
  let empty = 0;
  const timer = setInterval(() => {
    samples++;
    if (endpointer.endpoints().length === 0) empty++;
  }, 10);
  return {
    get samples() {
      return samples;
    },
    get empty() {
      return empty;
    },
    stop: () => clearInterval(timer),
  };
}

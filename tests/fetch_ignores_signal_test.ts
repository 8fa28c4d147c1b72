// A fetch that ignores its AbortSignal (a user-supplied one, or a runtime bug) must not hang a call:
// every client's calls end by their own deadline whether the fetch never settles or its body never
// ends, with the library's timeout error, and leave nothing running (sanitizers on). Fake time: the
// deadlines are setTimeout-based (src/_async.ts).
import { assert, fakeTime } from "./_deps.ts";
import { ConsulClient } from "../src/consul/client.ts";
import { DohResolver } from "../src/dns/resolver.ts";
import { EtcdClient } from "../src/etcd/client.ts";
import { EurekaClient } from "../src/eureka/client.ts";
import { isSdError } from "../src/errors.ts";
import { DnsError } from "../src/dns/errors.ts";

const TIMEOUT = 1_000;

type Fault = "never settles" | "endless body";

/** A fetch that ignores its signal: the answer never comes, or its body never ends. */
function deaf(fault: Fault, contentType = "application/json") {
  const pulls: number[] = [];
  let cancelled = 0;
  const fetch = (_input: string | URL | Request, _init?: RequestInit): Promise<Response> => {
    if (fault === "never settles") return new Promise<Response>(() => {});
    const body = new ReadableStream<Uint8Array>({
      pull: () => {
        pulls.push(1);
        if (pulls.length === 1) return; // nothing yet, then a read that never finishes
        return new Promise<void>(() => {});
      },
      cancel: () => void cancelled++,
    });
    return Promise.resolve(new Response(body, { status: 200, headers: { "content-type": contentType } }));
  };
  return { fetch, cancelled: () => cancelled };
}

interface Case {
  name: string;
  contentType?: string;
  call(fetch: typeof globalThis.fetch): Promise<unknown>;
  check(error: unknown): void;
}

const unavailable = (error: unknown) => {
  assert.ok(isSdError(error), String(error));
  assert.equal((error as { code: string }).code, "ERR_REGISTRY_UNAVAILABLE", String(error));
};

const cases: Case[] = [
  {
    name: "ConsulClient.healthService",
    call: (fetch) => new ConsulClient({ fetch, timeout: TIMEOUT }).healthService("api"),
    check: (e) => (unavailable(e), assert.match(String(e), /did not answer GET .* within 1000 ms/)),
  },
  {
    name: "ConsulClient.registerService",
    call: (fetch) =>
      new ConsulClient({ fetch, timeout: TIMEOUT }).registerService({ ID: "a", Name: "api", Port: 80 }),
    check: unavailable,
  },
  {
    name: "EtcdClient.range",
    call: (fetch) =>
      new EtcdClient({ endpoints: ["http://e.test:2379"], fetch, timeout: TIMEOUT }).range("/k"),
    check: (e) => (unavailable(e), assert.match(String(e), /no answer within 1000 ms/)),
  },
  {
    name: "EtcdClient authentication",
    call: (fetch) =>
      new EtcdClient({
        endpoints: ["http://e.test:2379"],
        username: "u",
        password: "p",
        fetch,
        timeout: TIMEOUT,
      }).range("/k"),
    check: unavailable,
  },
  {
    name: "EurekaClient.getApplication",
    call: (fetch) =>
      new EurekaClient({ urls: "http://r.test:8761/eureka", fetch, timeout: TIMEOUT }).getApplication("api"),
    check: (e) => (unavailable(e), assert.match(String(e), /no answer within 1000 ms/)),
  },
  {
    name: "DohResolver.resolveSrv",
    contentType: "application/dns-message",
    call: (fetch) =>
      new DohResolver({ servers: ["https://d.test/dns-query"], fetch, timeout: TIMEOUT }).resolveSrv(
        "_http._tcp.api.test",
      ),
    check: (e) => {
      assert.ok(e instanceof DnsError, String(e));
      assert.equal(e.code, "ETIMEOUT", String(e));
    },
  },
];

for (const c of cases) {
  for (const fault of ["never settles", "endless body"] as const) {
    Deno.test(`${c.name} ends at its deadline when the fetch ignores its signal and ${fault === "never settles" ? "never answers" : "its body never ends"}`, async () => {
      const clock = fakeTime(0);
      try {
        const f = deaf(fault, c.contentType);
        const settled: { error?: unknown; done: boolean } = { done: false };
        const call = c.call(f.fetch as typeof globalThis.fetch).then(
          () => Object.assign(settled, { done: true, error: new Error("resolved") }),
          (error) => Object.assign(settled, { done: true, error }),
        );
        await clock.tickAsync(TIMEOUT - 1);
        assert.equal(settled.done, false, "not before its deadline");
        await clock.tickAsync(1);
        await call;
        assert.ok(settled.done, "ended at its deadline");
        c.check(settled.error);
        if (fault === "endless body") assert.ok(f.cancelled() >= 1, "the body was cancelled");
        assert.equal(clock.countTimers(), 0, "no timer left");
      } finally {
        clock.uninstall();
      }
    });
  }
}

Deno.test("EtcdClient.watch ends when its signal aborts though the fetch ignores it: before the answer and mid-stream", async () => {
  for (const fault of ["never settles", "endless body"] as const) {
    const clock = fakeTime(0);
    try {
      const f = deaf(fault);
      const client = new EtcdClient({ endpoints: ["http://e.test:2379"], fetch: f.fetch, timeout: TIMEOUT });
      const controller = new AbortController();
      const settled: { error?: unknown; done: boolean } = { done: false };
      const watching = (async () => {
        for await (const _ of client.watch("/k", { prefix: true, signal: controller.signal })) { /* none */ }
      })().then(
        () => Object.assign(settled, { done: true, error: new Error("ended") }),
        (error) => Object.assign(settled, { done: true, error }),
      );
      // The answer's headers are bounded by the call's timeout; a stream's body only by its signal.
      if (fault === "endless body") await clock.tickAsync(TIMEOUT * 5);
      assert.equal(settled.done, false, fault);
      controller.abort(new Error("caller stopped watching"));
      await clock.tickAsync(0);
      await watching;
      assert.match(String(settled.error), /caller stopped watching/, fault);
      assert.equal(clock.countTimers(), 0, "no timer left");
    } finally {
      clock.uninstall();
    }
  }
});

import { assert } from "./_deps.ts";
import { BackgroundInstancer, backoffOptions } from "../src/background_instancer.ts";
import type { Logger } from "../src/types.ts";
import { DefaultEndpointer, DiscoveryLoopError, type EndpointerErrorEvent, isSdError } from "../mod.ts";
import { tracking } from "./_helpers.ts";

class Probe extends BackgroundInstancer {
  runs = 0;
  constructor(
    options: ConstructorParameters<typeof BackgroundInstancer>[0],
    loop?: (p: Probe) => Promise<void>,
  ) {
    super(options);
    this.start(() => {
      this.runs++;
      return loop ? loop(this) : Promise.resolve();
    });
  }
  get signal(): AbortSignal {
    return this.stopSignal;
  }
}

Deno.test("BackgroundInstancer runs its loop once and aborts the loop's signal on stop", () => {
  const probe = new Probe({});
  assert.equal(probe.runs, 1);
  assert.equal(probe.signal.aborted, false);
  probe.stop();
  probe.stop();
  assert.equal(probe.signal.aborted, true);
  assert.equal(probe.stopped, true);
});

Deno.test("BackgroundInstancer born with an aborted signal never runs its loop", () => {
  const controller = new AbortController();
  controller.abort(new Error("already gone"));
  const probe = new Probe({ signal: controller.signal });
  assert.equal(probe.runs, 0);
  assert.equal(probe.stopped, true);
  assert.equal(probe.signal.aborted, true);
});

Deno.test("BackgroundInstancer stops when its signal aborts and then forgets the signal", () => {
  const controller = new AbortController();
  let listeners = 0;
  const add = controller.signal.addEventListener.bind(controller.signal);
  const remove = controller.signal.removeEventListener.bind(controller.signal);
  controller.signal.addEventListener = (...args: Parameters<typeof add>) => {
    listeners++;
    add(...args);
  };
  controller.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    listeners--;
    remove(...args);
  };
  const probe = new Probe({ signal: controller.signal });
  assert.equal(listeners, 1);
  probe.stop();
  assert.equal(listeners, 0, "stop() removes its abort listener");
  const second = new Probe({ signal: controller.signal });
  controller.abort();
  assert.equal(second.stopped, true);
});

const WORKERD_GLOBAL_SCOPE = "Disallowed operation called within global scope. Asynchronous I/O " +
  "(ex: fetch() or connect()), setting a timeout, and generating random values are not allowed within " +
  "global scope. To fix this error, perform this operation within a handler. " +
  "https://developers.cloudflare.com/workers/runtime-apis/handlers/";

/** A loop written as a plain function, as workerd throws from setTimeout at module scope. */
class WorkerScopeProbe extends BackgroundInstancer {
  constructor(options: ConstructorParameters<typeof BackgroundInstancer>[0] = {}) {
    super(options);
    this.start(() => {
      throw new Error(WORKERD_GLOBAL_SCOPE);
    });
  }
}

function errorLogger(): { logged: [string, unknown][]; logger: Logger } {
  const logged: [string, unknown][] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error: (message, data) => {
      logged.push([message, data?.["error"]]);
    },
  };
  return { logged, logger };
}

Deno.test("BackgroundInstancer reports a loop that rejects as a DiscoveryLoopError event and to the logger", async () => {
  const { logged, logger } = errorLogger();
  const cause = new Error("loop bug");
  const probe = new Probe({ logger }, () => Promise.reject(cause));
  const events: unknown[] = [];
  probe.subscribe((event) => {
    events.push(event.error);
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(events.length, 1);
  const error = events[0];
  assert.ok(error instanceof DiscoveryLoopError);
  assert.equal(error.name, "DiscoveryLoopError");
  assert.equal(error.code, "ERR_DISCOVERY_LOOP_ENDED");
  assert.equal(isSdError(error), true);
  assert.equal(error.message, 'The discovery loop of Probe ended and cannot restart: "loop bug"');
  assert.equal(error.cause, cause);
  assert.equal(error.instancer, "Probe");
  assert.equal(error.outsideRequest, false);
  assert.deepEqual(logged, [[
    "Discovery loop ended with an error",
    'DiscoveryLoopError: The discovery loop of Probe ended and cannot restart: "loop bug"',
  ]]);
  probe.stop();
});

Deno.test("BackgroundInstancer reports a loop that throws synchronously outside a request, pointing to pull mode", async () => {
  const { logged, logger } = errorLogger();
  const probe = new WorkerScopeProbe({ logger });
  const state = probe.state();
  const error = state?.error;
  assert.ok(error instanceof DiscoveryLoopError, "reported before the constructor returns");
  assert.equal(error.outsideRequest, true);
  assert.equal(error.instancer, "WorkerScopeProbe");
  assert.equal((error.cause as Error).message, WORKERD_GLOBAL_SCOPE);
  assert.equal(
    error.message,
    `The discovery loop of WorkerScopeProbe ended and cannot restart: ${
      JSON.stringify(WORKERD_GLOBAL_SCOPE)
    }` +
      "; the runtime forbids timers and I/O outside a request handler (as Cloudflare Workers do at module " +
      "scope), so a watch-mode instancer cannot run there: use PullInstancer, which refreshes inside requests",
  );
  assert.equal(logged.length, 1);

  // Subscribers and an endpointer's ready() see it, also when they come later.
  const seen: unknown[] = [];
  probe.subscribe((event) => void seen.push(event.error));
  using endpointer = new DefaultEndpointer(probe, tracking().factory);
  const endpointerErrors: unknown[] = [];
  endpointer.addEventListener("error", (e) => endpointerErrors.push((e as EndpointerErrorEvent).error));
  await assert.rejects(endpointer.ready(), (e) => e === error);
  await assert.rejects(
    endpointer.ready({ waitThroughErrors: true }),
    (e) => e === error,
    "it never recovers",
  );
  assert.deepEqual(seen, [error]);
  assert.deepEqual(endpointerErrors, [error]);
  probe.stop();
});

Deno.test("DiscoveryLoopError recognises the runtime's refusal in a cause chain and quotes other causes", () => {
  const wrapped = new TypeError("Consul lookup failed", { cause: new Error(WORKERD_GLOBAL_SCOPE) });
  const error = new DiscoveryLoopError("ConsulInstancer", wrapped);
  assert.equal(error.outsideRequest, true);
  assert.match(
    error.message,
    /^The discovery loop of ConsulInstancer ended and cannot restart: "Consul lookup failed"; .*PullInstancer/,
  );
  const odd = new DiscoveryLoopError("EtcdInstancer", "boom");
  assert.equal(odd.message, 'The discovery loop of EtcdInstancer ended and cannot restart: "boom"');
  assert.equal(odd.outsideRequest, false);
  const cyclic = new Error("loops");
  cyclic.cause = cyclic;
  assert.equal(new DiscoveryLoopError("X", cyclic).outsideRequest, false, "a cyclic cause chain ends");
});

Deno.test("BackgroundInstancer reports nothing when its loop rejects because it was stopped", async () => {
  const { logged, logger } = errorLogger();
  const probe = new Probe(
    { logger },
    (p) =>
      new Promise((_, reject) => {
        p.signal.addEventListener("abort", () => reject(p.signal.reason), { once: true });
      }),
  );
  const events: unknown[] = [];
  probe.subscribe((event) => void events.push(event));
  probe.stop();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events, []);
  assert.deepEqual(logged, []);
});

Deno.test("backoffOptions merges over defaults and names bad values", () => {
  const defaults = { initial: 100, max: 1000, multiplier: 2 };
  assert.deepEqual(backoffOptions(undefined, defaults), defaults);
  assert.deepEqual(backoffOptions({ max: 5000 }, defaults), { initial: 100, max: 5000, multiplier: 2 });
  assert.throws(
    () => backoffOptions({ initial: 0 }, defaults),
    /options\.backoff\.initial must be .* >= 1, got 0/,
  );
  assert.throws(() => backoffOptions({ multiplier: 0.5 }, defaults, "x.backoff"), /x\.backoff\.multiplier/);
  assert.throws(
    () => backoffOptions("fast" as never, defaults),
    /options\.backoff must be an object, got "fast"/,
  );
});

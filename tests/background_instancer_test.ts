import { assert } from "./_deps.ts";
import { BackgroundInstancer, backoffOptions } from "../src/background_instancer.ts";
import type { Logger } from "../src/types.ts";

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

Deno.test("BackgroundInstancer reports a loop that throws as an error event and to the logger", async () => {
  const logged: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error: (message) => {
      logged.push(message);
    },
  };
  const probe = new Probe({ logger }, () => Promise.reject(new Error("loop bug")));
  const events: unknown[] = [];
  probe.subscribe((event) => {
    events.push(event.error?.message);
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events, ["loop bug"]);
  assert.deepEqual(logged, ["Discovery loop ended with an error"]);
  probe.stop();
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

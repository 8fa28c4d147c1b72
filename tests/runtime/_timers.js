// Counts the library's timers that are still pending, in any runtime, by wrapping the global timer
// functions. The bundle looks `setTimeout` up on the global object at each call, so every timer it
// starts while the tracker is installed is seen. Timers started by the runtime's own code (Node's
// fetch keeps a connect-timeout timer, for one) are told apart by the caller's stack frame.

/**
 * Installs the tracker on `globalThis`; it counts timers whose caller's source mentions `marker`.
 *
 * @param {string} marker A piece of the library's file name, e.g. "dist/sd.js".
 * @returns {{ pending: () => number, started: () => number, restore: () => void }}
 */
export function trackTimers(marker) {
  const live = new Set();
  let started = 0;
  const original = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
  };
  const note = (handle) => {
    if (!callerMentions(marker)) return;
    live.add(key(handle));
    started++;
  };
  globalThis.setTimeout = (callback, ms, ...args) => {
    const handle = original.setTimeout.call(
      globalThis,
      (...given) => {
        live.delete(key(handle));
        if (typeof callback === "function") callback(...given);
      },
      ms,
      ...args,
    );
    note(handle);
    return handle;
  };
  globalThis.setInterval = (callback, ms, ...args) => {
    const handle = original.setInterval.call(globalThis, callback, ms, ...args);
    note(handle);
    return handle;
  };
  globalThis.clearTimeout = (handle) => {
    live.delete(key(handle));
    original.clearTimeout.call(globalThis, handle);
  };
  globalThis.clearInterval = (handle) => {
    live.delete(key(handle));
    original.clearInterval.call(globalThis, handle);
  };
  return {
    pending: () => live.size,
    started: () => started,
    restore() {
      Object.assign(globalThis, original);
    },
  };
}

// Whether the first stack frame outside this file (the code that asked for the timer) is in `marker`.
function callerMentions(marker) {
  const frames = String(new Error().stack ?? "").split("\n").filter((line) => /:\d+:\d+/.test(line));
  const caller = frames.find((line) => !line.includes("_timers.js"));
  return caller !== undefined && caller.includes(marker);
}

// Node returns Timeout objects that may be cleared by their numeric id; others return numbers.
function key(handle) {
  return typeof handle === "object" && handle !== null && Symbol.toPrimitive in handle
    ? Number(handle)
    : handle;
}

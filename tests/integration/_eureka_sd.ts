// Helpers for the Eureka backend's real-server tests (tests/integration/eureka_*_test.ts): unique
// application names, the server's lock (a restart must not overlap tests that expect the server up),
// the restart itself, and a fetch that counts what the library sends.

import { serverScript, withServerLock } from "./_server.ts";
const RUN = crypto.randomUUID().slice(0, 8).toUpperCase();
let serial = 0;

/** An application name no other test or run uses: `EDGEKIT-SD-<topic>-<run>-<n>`. */
export function uniqueApp(topic: string): string {
  serial += 1;
  return `EDGEKIT-SD-${topic}-${RUN}-${serial}`;
}

/**
 * Runs `fn` holding the Eureka server's lock: `exclusive` for a test that restarts the server,
 * `shared` for every other, so that test files running in parallel never see a restart mid-test.
 */
export function withEurekaLock<T>(mode: "shared" | "exclusive", fn: () => Promise<T>): Promise<T> {
  return withServerLock("eureka", mode, fn);
}

/** Restarts the server with `scripts/servers/eureka.sh restart` (every registration is lost). */
export async function restartEureka(): Promise<void> {
  const { state } = await Deno.permissions.query({ name: "run", command: "bash" });
  if (state !== "granted") throw new Error("Restarting Eureka needs --allow-run (bash)");
  await serverScript("eureka", "restart");
}

/** A fetch that records the path of every request (after the base), then calls the real one. */
export class CountingFetch {
  readonly paths: string[] = [];
  readonly #base: string;

  constructor(base: string) {
    this.#base = new URL(base).pathname.replace(/\/+$/, "");
  }

  /** How many requests went to exactly `path` (e.g. `/apps/delta`). */
  count(path: string): number {
    return this.paths.filter((p) => p === path).length;
  }

  readonly fetch = (input: Request | URL | string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    this.paths.push(url.pathname.slice(this.#base.length));
    return fetch(input, init);
  };
}

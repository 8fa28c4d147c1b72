// The pull-mode scenarios every backend goes through in workerd (tests/workerd/pull_serve_test.ts):
// cold then warm, concurrent cold, refreshes per TTL, a membership change, and an outage with
// recovery. Discovery is counted where it lands: at a Front (tests/workerd/_harness.ts) between workerd and the registry.

import { assert } from "../_deps.ts";
import { type Answer, type Front, until, type Upstream, Workerd } from "./_harness.ts";

/** How a backend is driven: its bindings, how to change what it lists, what counts as discovery. */
export interface Backend {
  /** `SD_BACKEND`. */
  readonly name: string;
  /** `SD_REGISTRY` for a gateway that reaches the registry through `front`. */
  registry(front: Front): string;
  /** `SD_SERVICE`. */
  readonly service: string;
  /** Makes the registry list exactly `instances` (and, for DNS, with this TTL in seconds). */
  set(instances: readonly Upstream[], ttlSeconds?: number): Promise<void>;
  /** Path prefix of a discovery request at the front. */
  readonly discovery: string;
}

/** Durations for a gateway, in milliseconds. */
export interface Timing {
  ttl: number;
  staleIfError?: number;
  backoff?: number;
  timeout?: number;
}

/** What the scenarios measured, for the report. */
export interface Figures {
  /** Discovery requests (subrequests) of the first, cold request. */
  cold: number;
  /** Discovery requests during 50 warm requests within the TTL. */
  warm50: number;
  /** Discovery requests for 8 concurrent cold requests. */
  concurrent8: number;
  /** Refreshes seen over a run of traffic, and how many TTLs it spanned. */
  refreshes?: { count: number; ttls: number; minGapMs: number };
  /** Milliseconds until a new instance was served, and until a removed one no longer was. */
  change?: { addedMs: number; removedMs: number };
  /** The real registry cut off from workerd (its front stops listening), then back. */
  outage?: Outage;
}

/** Starts workerd running the gateway for `backend` through `front`. */
export function startGateway(backend: Backend, front: Front, timing: Timing): Promise<Workerd> {
  const bindings: Record<string, string> = {
    SD_BACKEND: backend.name,
    SD_REGISTRY: backend.registry(front),
    SD_SERVICE: backend.service,
    SD_TTL_MS: String(timing.ttl),
  };
  if (timing.staleIfError !== undefined) bindings["SD_STALE_IF_ERROR_MS"] = String(timing.staleIfError);
  if (timing.backoff !== undefined) bindings["SD_BACKOFF_MS"] = String(timing.backoff);
  if (timing.timeout !== undefined) bindings["SD_TIMEOUT_MS"] = String(timing.timeout);
  return Workerd.start(bindings);
}

/** Fails with workerd's offending lines if it warned about cross-request I/O, hangs or the like. */
export function assertCleanOutput(workerd: Workerd): void {
  const problems = workerd.problems();
  assert.deepEqual(
    problems,
    [],
    `workerd reported:\n${problems.join("\n")}\n--- output ---\n${workerd.output}`,
  );
}

/** Runs `fn` on a fresh workerd (a fresh isolate), then stops it and checks its output. */
export async function withGateway<T>(
  backend: Backend,
  front: Front,
  timing: Timing,
  fn: (workerd: Workerd) => Promise<T>,
): Promise<T> {
  await using workerd = await startGateway(backend, front, timing);
  const result = await fn(workerd);
  assertCleanOutput(workerd);
  return result;
}

function ok(answer: Answer, what: string): void {
  assert.equal(answer.status, 200, `${what}: ${answer.status} ${answer.source} ${answer.body}`);
}

/**
 * One cold request, then 50 warm ones within the TTL. Returns the discovery requests of each part.
 * Needs a TTL the 50 requests fit in (5 s is plenty).
 */
export async function coldThenWarm(
  backend: Backend,
  front: Front,
  ttl: number,
): Promise<{ cold: number; warm50: number }> {
  return await withGateway(backend, front, { ttl }, async (workerd) => {
    const before = front.count(backend.discovery);
    const start = Date.now();
    const cold = await workerd.get();
    ok(cold, "cold request");
    assert.equal(cold.source, "refreshed");
    const coldCount = front.count(backend.discovery) - before;
    assert.ok(coldCount >= 1, "the cold request looked the service up");
    const sources = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const answer = await workerd.get();
      ok(answer, `warm request ${i}`);
      sources.add(answer.source);
    }
    const took = Date.now() - start;
    assert.ok(
      took < ttl,
      `the warm requests must fit in the TTL (${ttl} ms) to prove anything; took ${took}`,
    );
    assert.deepEqual([...sources], ["fresh"]);
    return { cold: coldCount, warm50: front.count(backend.discovery) - before - coldCount };
  });
}

/**
 * Eight concurrent requests on a fresh isolate, while the registry takes 150 ms to answer: one looks
 * up, seven wait for its result. Returns the discovery requests.
 */
export async function concurrentCold(backend: Backend, front: Front, ttl: number): Promise<number> {
  return await withGateway(backend, front, { ttl }, async (workerd) => {
    const before = front.count(backend.discovery);
    front.latency = 150;
    let answers: Answer[];
    try {
      answers = await Promise.all(Array.from({ length: 8 }, () => workerd.get()));
    } finally {
      front.latency = 0;
    }
    answers.forEach((answer, i) => ok(answer, `concurrent request ${i}`));
    // One looked up; the others waited for its outcome (or, arriving after it, found the set fresh).
    const sources = answers.map((a) => a.source);
    assert.equal(sources.filter((s) => s === "refreshed").length, 1, sources.join());
    assert.ok(sources.every((s) => ["refreshed", "coalesced", "fresh"].includes(s)), sources.join());
    assert.ok(sources.includes("coalesced"), sources.join());
    return front.count(backend.discovery) - before;
  });
}

/**
 * Steady traffic for `ms` on a gateway with a short TTL: refreshes are at least a TTL apart (one
 * refresh per TTL at most). A refresh may make several requests (DNS: SRV, then addresses); requests
 * less than a quarter TTL apart count as one refresh.
 */
export async function refreshesPerTtl(
  workerd: Workerd,
  backend: Backend,
  front: Front,
  ttl: number,
  ms: number,
): Promise<{ count: number; ttls: number; minGapMs: number }> {
  ok(await workerd.get(), "first request");
  const start = Date.now();
  const from = front.seen.length;
  while (Date.now() - start < ms) {
    ok(await workerd.get(), "request under steady traffic");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const lookups = front.seen.slice(from).filter((s) => s.path.startsWith(backend.discovery));
  const starts: number[] = [];
  for (const { at } of lookups) if (starts.length === 0 || at - starts.at(-1)! > ttl / 4) starts.push(at);
  const gaps = starts.slice(1).map((at, i) => at - starts[i]!);
  const minGapMs = gaps.length === 0 ? Infinity : Math.min(...gaps);
  const ttls = ms / ttl;
  assert.ok(starts.length >= 2, `expected refreshes under traffic over ${ttls} TTLs, saw ${starts.length}`);
  assert.ok(
    starts.length <= Math.ceil(ttls) + 1,
    `at most one refresh per TTL: ${starts.length} in ${ttls} TTLs`,
  );
  // A refresh starts only once the last set has expired: a TTL after the last one finished.
  assert.ok(minGapMs >= ttl * 0.95, `refreshes ${gaps.join(", ")} ms apart, TTL ${ttl} ms`);
  return { count: starts.length, ttls, minGapMs };
}

/** Answers from the gateway until `done` says so, bounded by `ms`; returns how long it took. */
async function pollUntil(workerd: Workerd, ms: number, what: string, done: (answer: Answer) => boolean) {
  const start = Date.now();
  const seen: string[] = [];
  await until(what, ms, async () => {
    const answer = await workerd.get();
    seen.push(`${answer.status}:${answer.source}:${answer.body}`);
    return done(answer);
  }).catch((error) => {
    throw new Error(`${error.message}; answers ${seen.slice(-10).join(" ")}`);
  });
  return Date.now() - start;
}

/**
 * Adds an instance, then removes two: each change is served within the TTL plus one refresh.
 * `upstreams` are [a, b, c] and the registry lists [a, b] when called.
 */
export async function membershipChange(
  workerd: Workerd,
  backend: Backend,
  upstreams: readonly [Upstream, Upstream, Upstream],
  ttl: number,
  ttlSeconds?: number,
): Promise<{ addedMs: number; removedMs: number }> {
  const [a, b, c] = upstreams;
  const bound = ttl + 1_500;
  await backend.set([a, b, c], ttlSeconds);
  const addedMs = await pollUntil(workerd, bound, `${c.name} to be served`, (x) => x.body === c.name);
  await backend.set([c], ttlSeconds);
  let inARow = 0;
  const removedMs = await pollUntil(workerd, bound, `only ${c.name} to be served`, (x) => {
    inARow = x.body === c.name ? inARow + 1 : 0;
    return inARow >= 4;
  });
  assert.ok(addedMs <= bound && removedMs <= bound);
  return { addedMs, removedMs };
}

/** What an outage looked like from the gateway's clients. */
export interface Outage {
  /** Milliseconds from the fault until the first 503. */
  staleForMs: number;
  /** The slowest 503. */
  slowest503Ms: number;
  /** Discovery requests during the outage (the front counts what reaches it). */
  attempts: number;
  /** Milliseconds from the fix until the first 200. */
  recoveredMs: number;
}

/**
 * Breaks the registry with `inject` right after a refresh, serves stale within `staleIfError`, then
 * answers 503 quickly; `clear` fixes it and the first request allowed a lookup recovers.
 */
export async function outage(
  workerd: Workerd,
  backend: Backend,
  front: Front,
  timing: Required<Timing>,
  inject: () => void | Promise<void>,
  clear: () => void | Promise<void>,
): Promise<Outage> {
  // Start right after a refresh, so the set expires a TTL from now.
  const before = front.count(backend.discovery);
  await until("a refresh", timing.ttl + 2_000, async () => {
    ok(await workerd.get(), "request before the outage");
    return front.count(backend.discovery) > before;
  });
  await inject();
  const broken = Date.now();
  const atFault = front.count(backend.discovery);
  const answers: (Answer & { at: number })[] = [];
  await until("a 503", timing.ttl + timing.staleIfError + timing.timeout + 3_000, async () => {
    const answer = await workerd.get();
    answers.push({ ...answer, at: Date.now() - broken });
    return answer.status === 503;
  });
  // Three more: still 503, still quick (a lookup when the backoff allows one, bounded by the timeout).
  for (let i = 0; i < 3; i++) answers.push({ ...await workerd.get(), at: Date.now() - broken });
  const first503 = answers.findIndex((a) => a.status === 503);
  const served = answers.slice(0, first503);
  const failed = answers.slice(first503);
  const show = answers.map((a) => `${a.at}:${a.status}:${a.source}`).join(" ");
  assert.ok(served.every((a) => a.status === 200), show);
  assert.ok(served.some((a) => a.source === "stale-if-error"), `stale served on error: ${show}`);
  assert.ok(failed.every((a) => a.status === 503 && a.source === "error"), show);
  const staleForMs = answers[first503]!.at;
  // 503s start once the set has been past its TTL for staleIfError, not before, and not much later.
  assert.ok(staleForMs >= timing.ttl + timing.staleIfError - 100, `503 too early: ${show}`);
  assert.ok(staleForMs <= timing.ttl + timing.staleIfError + timing.timeout + 1_000, `503 too late: ${show}`);
  const slowest503Ms = Math.max(...failed.map((a) => a.ms));
  assert.ok(slowest503Ms < timing.timeout + 500, `a 503 took ${slowest503Ms} ms: ${show}`);
  const attempts = front.count(backend.discovery) - atFault;

  await clear();
  const fixed = Date.now();
  const atFix = front.count(backend.discovery);
  let recovered: Answer | undefined;
  await until("recovery", timing.backoff * 40 + 3_000, async () => {
    const answer = await workerd.get();
    // Until the backoff allows a lookup, nothing reaches the registry and the answer is a quick 503.
    if (answer.status === 503) {
      assert.equal(front.count(backend.discovery), atFix, "a lookup after the fix failed");
      return false;
    }
    recovered = answer;
    return true;
  });
  ok(recovered!, "recovery");
  assert.equal(recovered!.source, "refreshed");
  return { staleForMs, slowest503Ms, attempts, recoveredMs: Date.now() - fixed };
}

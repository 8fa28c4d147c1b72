// Plumbing for tests that need a real registry. Each backend's suite reads the server's address from
// one environment variable (SD_CONSUL_ADDR, SD_ETCD_ENDPOINTS, SD_EUREKA_URL, SD_ZK_ADDR,
// SD_DOH_URL; never ETCD_*, which etcd reads as flags). Without it the test is skipped with a message
// saying what to set; when CI sets SD_REQUIRE_SERVERS=1, a missing address fails the test instead.

/** What to do with a server test, given the environment. */
export type ServerDecision =
  | { kind: "run"; address: string }
  | { kind: "skip"; reason: string }
  | { kind: "fail"; reason: string };

/** The variable that turns a skipped server test into a failure. */
export const REQUIRE_SERVERS = "SD_REQUIRE_SERVERS";

/** Decides from `env` (a variable lookup) whether a test needing `variable` runs, skips or fails. */
export function decide(variable: string, env: (name: string) => string | undefined): ServerDecision {
  const address = env(variable)?.trim();
  if (address) return { kind: "run", address };
  const reason = `needs a real server: set ${variable} (see tests/integration/README.md)`;
  return env(REQUIRE_SERVERS) === "1"
    ? { kind: "fail", reason: `${variable} is not set but ${REQUIRE_SERVERS}=1: ${reason}` }
    : { kind: "skip", reason };
}

/**
 * Registers a Deno test that needs a real server whose address is in `variable`.
 *
 * @param name The test's name.
 * @param variable The environment variable holding the address.
 * @param fn The test body, given the address.
 */
export function serverTest(
  name: string,
  variable: string,
  fn: (address: string, t: Deno.TestContext) => Promise<void>,
): void {
  const decision = decide(variable, (n) => Deno.env.get(n));
  if (decision.kind === "skip") {
    Deno.test({ name: `${name} (skipped: ${decision.reason})`, ignore: true, fn() {} });
    return;
  }
  Deno.test(name, async (t) => {
    if (decision.kind === "fail") throw new Error(decision.reason);
    await fn(decision.address, t);
  });
}

/**
 * Runs `fn` holding a lock on `scripts/servers/<server>.sh`: "shared" for tests that only use the
 * server, "exclusive" for tests that restart or reconfigure it, so that test files running in parallel
 * never see another file's disruption. flock needs only --allow-read and is released when the file
 * closes, even if `fn` throws. Do not nest two locks on the same server (a shared lock held while
 * asking for an exclusive one waits forever).
 */
export async function withServerLock<T>(
  server: string,
  mode: "shared" | "exclusive",
  fn: () => Promise<T>,
): Promise<T> {
  using file = await Deno.open(new URL(`../../scripts/servers/${server}.sh`, import.meta.url), {
    read: true,
  });
  await file.lock(mode === "exclusive");
  return await fn();
}

/** A {@linkcode serverTest} whose body runs under {@linkcode withServerLock}. */
export function serverTestLocked(server: string, mode: "shared" | "exclusive"): typeof serverTest {
  return (name, variable, fn) =>
    serverTest(name, variable, (address, t) => withServerLock(server, mode, () => fn(address, t)));
}

/**
 * Runs `bash scripts/servers/<server>.sh ARGS...` with no stdin and returns its log (stderr); throws
 * with the log and output if it exits non-zero or runs over two minutes. Needs --allow-run.
 */
export async function serverScript(server: string, ...args: string[]): Promise<string> {
  const script = new URL(`../../scripts/servers/${server}.sh`, import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args: [decodeURIComponent(script.pathname), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Bounded: a wedged script must fail the test, not hang the run.
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder();
  const log = text.decode(stderr);
  if (code !== 0) {
    throw new Error(`${server}.sh ${args.join(" ")} exited with ${code}:\n${log}${text.decode(stdout)}`);
  }
  return log;
}

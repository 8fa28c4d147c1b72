// The loopback servers for bench/tail_latency.ts: N HTTP servers on 127.0.0.1, each answering "ok" after
// a configured delay (and a longer stall on a seeded share of its requests). The delay is injected with
// setTimeout on the server; each response says in `x-delay` how long it was meant to be held, so that the
// client can separate the injected latency from what the machine, the timers and the client add, and in
// `x-held` how long it really held it (setTimeout fires late: about 1.3 ms for 5 ms here).
//
// Three ways to run them (the client picks one): in the client's own event loop (`startTailServers`), in
// a Worker (this file as the Worker's module), or in a child process (this file as the main module,
// driven by JSON lines on stdin and answering on stdout).
/// <reference lib="deno.worker" />

/** How one host answers. */
export interface HostPlan {
  /** Milliseconds every request is held. */
  delay: number;
  /** Milliseconds a stalled request is held instead. */
  stall: number;
  /** Share of requests that stall, drawn from a generator seeded by `seed`. */
  stallShare: number;
  seed: number;
}

/** Commands from the client, and the answers. */
export type Command = { op: "plan"; hosts: HostPlan[] } | { op: "close" };

/** The running servers. */
export interface TailServers {
  ports: number[];
  /** Sets each host's plan and restarts its stall sequence. */
  plan(hosts: HostPlan[]): void;
  close(): Promise<void>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts `count` servers on 127.0.0.1 with ephemeral ports, all answering at once until planned. */
export function startTailServers(count: number): TailServers {
  const plans: { plan: HostPlan; random: () => number }[] = [];
  const servers = Array.from({ length: count }, (_, i) => {
    plans[i] = { plan: { delay: 0, stall: 0, stallShare: 0, seed: i }, random: mulberry32(i) };
    return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      const { plan, random } = plans[i]!;
      const ms = plan.stallShare > 0 && random() < plan.stallShare ? plan.stall : plan.delay;
      const host = String(i);
      if (ms <= 0) return new Response("ok", { headers: { "x-host": host, "x-delay": "0", "x-held": "0" } });
      const arrived = performance.now();
      return new Promise<Response>((resolve) =>
        setTimeout(() => {
          const held = (performance.now() - arrived).toFixed(3);
          resolve(new Response("ok", { headers: { "x-host": host, "x-delay": String(ms), "x-held": held } }));
        }, ms)
      );
    });
  });
  return {
    ports: servers.map((s) => s.addr.port),
    plan(hosts) {
      hosts.forEach((plan, i) => plans[i] = { plan, random: mulberry32(plan.seed) });
    },
    async close() {
      await Promise.all(servers.map((s) => s.shutdown()));
    },
  };
}

const COUNT = 10;

if (import.meta.main) {
  const servers = startTailServers(COUNT);
  if ("WorkerGlobalScope" in globalThis && self instanceof WorkerGlobalScope) {
    self.postMessage(servers.ports);
    self.onmessage = async (e: MessageEvent<Command>) => {
      if (e.data.op === "plan") {
        servers.plan(e.data.hosts);
        self.postMessage("planned");
      } else {
        await servers.close();
        self.postMessage("closed");
      }
    };
  } else {
    // A child process: one JSON command per stdin line, one JSON answer per stdout line.
    const out = new TextEncoder();
    const say = (value: unknown) => Deno.stdout.writeSync(out.encode(JSON.stringify(value) + "\n"));
    say(servers.ports);
    let buffered = "";
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const command = JSON.parse(buffered.slice(0, newline)) as Command;
        buffered = buffered.slice(newline + 1);
        if (command.op === "plan") {
          servers.plan(command.hosts);
          say("planned");
        } else {
          await servers.close();
          say("closed");
          Deno.exit(0);
        }
      }
    }
    await servers.close();
  }
}

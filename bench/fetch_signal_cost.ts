// What an AbortSignal costs Deno's own fetch on loopback, the floor under balancedFetch's default
// deadline (#12: balancedFetch vs raw fetch). One server on 127.0.0.1; 32 closed-loop clients; each
// variant runs 3,000 requests per round, 5 rounds in alternating order; prints medians and ratios.
//
//   deno run --allow-net=127.0.0.1 bench/fetch_signal_cost.ts
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
const url = `http://127.0.0.1:${server.addr.port}/`;
const shared = new AbortController();

async function rate(send: () => Promise<Response>, n = 3_000): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < n) await (await send()).arrayBuffer();
  }));
  return n / ((performance.now() - started) / 1000);
}

const variants: [string, () => Promise<Response>][] = [
  ["no signal", () => fetch(url)],
  ["one shared signal", () => fetch(url, { signal: shared.signal })],
  ["an AbortController per call", () => fetch(url, { signal: new AbortController().signal })],
  ["a controller and a 10 s timer per call", () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10_000);
    return fetch(url, { signal: controller.signal }).finally(() => clearTimeout(timer));
  }],
];
const rates = new Map<string, number[]>(variants.map(([name]) => [name, []]));
for (let round = 0; round < 5; round++) {
  for (const [name, send] of round % 2 === 0 ? variants : [...variants].reverse()) {
    rates.get(name)!.push(await rate(send));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(rates.get("no signal")!);
for (const [name, xs] of rates) {
  const m = median(xs);
  console.log(
    `${name.padEnd(40)} ${Math.round(m)} req/s (${Math.round(Math.min(...xs))}-${
      Math.round(Math.max(...xs))
    }), ${(m / base).toFixed(3)}x`,
  );
}
await server.shutdown();

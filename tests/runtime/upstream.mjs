// Loopback upstream for the runtime smoke test (Node, node:http). Starts two live HTTP servers on
// 127.0.0.1 (ports chosen by the OS) and finds a third port that refuses connections (bound, then
// closed). Prints one JSON line {"live": [...], "dead": "..."} once ready, then serves until SIGTERM
// or SIGINT, or until its own lifetime (UPSTREAM_LIFETIME_MS) runs out, so a lost trap cannot leave it
// running.
//
// Every request is counted per server and per tag (the first path segment, one per runtime), and
// `GET /__stats/<tag>` reports the count, so a runtime can prove each request arrived exactly once.
import { createServer } from "node:http";

const lifetimeMs = Number(process.env.UPSTREAM_LIFETIME_MS ?? 300_000);

function start(name) {
  const counts = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://upstream.invalid");
      const [, tag = "", rest = ""] = url.pathname.split("/");
      if (tag === "__stats") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ server: name, count: counts.get(rest) ?? 0 }));
        return;
      }
      counts.set(tag, (counts.get(tag) ?? 0) + 1);
      const body = {
        server: name,
        port: server.address().port,
        method: req.method,
        path: url.pathname,
        query: url.search,
        header: req.headers["x-smoke"] ?? null,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end(JSON.stringify(body));
    });
  });
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function refusedPort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const servers = [await start("a"), await start("b")];
const dead = await refusedPort();

// Exits outright: a client that keeps a connection open must not keep the upstream alive.
function shutdown() {
  clearTimeout(lifetime);
  for (const server of servers) {
    server.closeAllConnections?.();
    server.close();
  }
  process.exit(0);
}
const lifetime = setTimeout(shutdown, lifetimeMs);
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

process.stdout.write(
  JSON.stringify({
    live: servers.map((s) => `127.0.0.1:${s.address().port}`),
    dead: `127.0.0.1:${dead}`,
  }) + "\n",
);

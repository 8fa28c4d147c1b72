// The loopback server for bench/throughput.ts, run in a Worker so that it has its own event loop.
/// <reference lib="deno.worker" />
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
self.postMessage(server.addr.port);
self.onmessage = async () => {
  await server.shutdown();
  self.postMessage("closed");
};

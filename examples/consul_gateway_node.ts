/**
 * examples/consul_gateway.ts on Node 20, which has no `export default` serving: the same app, served
 * with node:http through the adapter `serveRegistered` uses (Deno.serve or Bun.serve elsewhere).
 * Node runs JavaScript, so bundle it first (or install the packages and use a TypeScript loader):
 *   deno bundle -o consul_gateway_node.mjs examples/consul_gateway_node.ts
 *   PORT=8787 node --env-file=examples/consul_gateway.env consul_gateway_node.mjs
 */
import process from "node:process";
import { detectServerAdapter } from "@edgekit/sd/hono";
import gateway from "./consul_gateway.ts";

const { HOST = "127.0.0.1", PORT = "8787" } = process.env;
const server = await detectServerAdapter(); // node:http here
await server.listen(async (request, env) => await gateway.fetch(request, env), {
  hostname: HOST,
  port: +PORT,
});

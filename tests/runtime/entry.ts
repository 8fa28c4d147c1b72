// The single bundle entry for the runtime smoke test: every public entry point of the package, so
// that one ESM file carries the whole surface that Deno, Node, Bun and workerd are asked to run.
export * from "../../mod.ts";
export * from "../../src/lb/mod.ts";
export * from "../../src/memory/mod.ts";
export * from "../../src/hono/mod.ts";
// The Hono the gateway is built with, from the same bundle.
export { Hono } from "hono";

// The fake Consul agent's wire helpers: service defaults, the JSON of a health entry, Go-style wait
// durations, and the subset of Consul's filter language the library sends.
import type { FakeService, FakeServiceInput } from "./consul.ts";

export const NODE = { name: "node-1", address: "127.0.0.1", datacenter: "dc1" };

export function withDefaults(service: FakeServiceInput): FakeService {
  return { address: "", tags: [], meta: {}, node: NODE, checks: [], ...service };
}

export function parseWait(value: string | null): number | undefined {
  const m = value === null ? null : /^(\d+)(ms|s|m)$/.exec(value);
  if (m === null) return undefined;
  return Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
}

export function toEntry(s: FakeService) {
  return {
    Node: { ID: "0000", Node: s.node.name, Address: s.node.address, Datacenter: s.node.datacenter },
    Service: {
      ID: s.id,
      Service: s.name,
      Tags: s.tags.length === 0 ? null : s.tags,
      Address: s.address,
      Meta: Object.keys(s.meta).length === 0 ? null : s.meta,
      Port: s.port,
      Weights: s.weights ?? { Passing: 1, Warning: 1 },
    },
    Checks: [
      { CheckID: "serfHealth", Status: "passing" },
      ...s.checks.map((c) => ({ CheckID: c.id, Status: c.status, ServiceID: s.id })),
    ],
  };
}

/**
 * The filter expressions the library sends: clauses `"<tag>" in Service.Tags`,
 * `Service.Meta.<key> == "<value>"` and `Service.Port == <n>`, joined by `and`, in optional
 * parentheses. Anything else is an invalid expression (HTTP 400), as an unknown selector is in Consul.
 */
export function compileFilter(expression: string): (s: FakeService) => boolean {
  const clauses = splitAnd(expression.trim());
  const tests = clauses.map((clause): (s: FakeService) => boolean => {
    if (clause.startsWith("(") && clause.endsWith(")")) return compileFilter(clause.slice(1, -1));
    let m = /^("(?:[^"\\]|\\.)*")\s+in\s+Service\.Tags$/.exec(clause);
    if (m !== null) {
      const tag = JSON.parse(m[1]!) as string;
      return (s) => s.tags.includes(tag);
    }
    m = /^Service\.Meta\.(\w+)\s*==\s*("(?:[^"\\]|\\.)*")$/.exec(clause);
    if (m !== null) {
      const [key, value] = [m[1]!, JSON.parse(m[2]!) as string];
      return (s) => s.meta[key] === value;
    }
    m = /^Service\.Port\s*==\s*(\d+)$/.exec(clause);
    if (m !== null) {
      const port = Number(m[1]);
      return (s) => s.port === port;
    }
    throw new Error(`unsupported clause ${JSON.stringify(clause)}`);
  });
  return (s) => tests.every((t) => t(s));
}

function splitAnd(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && expression.startsWith(" and ", i)) {
      out.push(expression.slice(start, i).trim());
      start = i + 5;
      i += 4;
    }
  }
  out.push(expression.slice(start).trim());
  return out;
}

// The resolver's answer cache: plain data keyed by type and lower-cased name, fresh for the smallest
// TTL of the answer (less the HTTP Age), bounded in entries; internal.
import type { DnsRecord } from "./wire.ts";

/** A cached outcome: the records of the asked type (after following CNAMEs), or a negative answer. */
export interface CachedAnswer {
  /** 0 (NOERROR) or 3 (NXDOMAIN). */
  rcode: number;
  /** Matching records (empty for NODATA/NXDOMAIN). */
  records: readonly DnsRecord[];
  /** When it was stored, ms. */
  storedAt: number;
  /** Seconds already elapsed at storage time (HTTP Age). */
  age: number;
  /** Expiry, ms. */
  expires: number;
}

export class AnswerCache {
  readonly #max: number;
  readonly #entries = new Map<string, CachedAnswer>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    // Refresh recency for LRU eviction.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  set(key: string, entry: CachedAnswer): void {
    if (this.#max === 0 || entry.expires <= entry.storedAt) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  clear(): void {
    this.#entries.clear();
  }
}

export function cacheKey(type: number, name: string): string {
  return `${type}:${name.replace(/\.$/, "").toLowerCase()}`;
}

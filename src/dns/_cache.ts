// The resolver's answer cache: plain data keyed by type and lower-cased name, fresh for the smallest
// TTL of the answer (less the HTTP Age), then kept as stale for up to `maxStale` ms so that it can be
// served when every server fails (RFC 8767), bounded in entries (least recently used goes first).
// Only settled answers live here, never promises, so one cache can serve many Workers requests.
// Internal.
import type { DnsError } from "./errors.ts";
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
  /** Expiry, ms: fresh before, stale from then on. */
  expires: number;
  /**
   * Set when a refresh of the expired entry failed: until `until` (ms) the stale entry is served
   * without asking the servers again (RFC 8767's failure recheck timer); `error` is why it failed.
   */
  refreshFailed?: { readonly until: number; readonly error: DnsError };
}

export class AnswerCache {
  readonly #max: number;
  readonly #maxStale: number;
  readonly #entries = new Map<string, CachedAnswer>();

  /**
   * @param maxEntries Entries kept; 0 stores nothing.
   * @param maxStale How long past its expiry an entry is still returned (as stale), ms.
   */
  constructor(maxEntries: number, maxStale = 0) {
    this.#max = maxEntries;
    this.#maxStale = maxStale;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry under `key` if it is fresh or expired no more than `maxStale` ago (check `expires`
   * to tell); entries past that are dropped.
   */
  get(key: string, now: number): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires + this.#maxStale <= now) {
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

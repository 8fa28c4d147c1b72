/**
 * The instancer of the in-process registry.
 *
 * @module
 */
import { InstanceCache, type InstanceCacheOptions } from "../instance_cache.ts";
// deno-lint-ignore no-unused-vars
import type { MemoryRegistry } from "./registry.ts";

/**
 * Follows one service of a {@linkcode MemoryRegistry}; created by
 * {@linkcode MemoryRegistry.instancer}. Changes arrive as soon as the registry changes.
 */
export class MemoryInstancer extends InstanceCache {
  readonly #onStop: () => void;

  /**
   * Not for direct use: call {@linkcode MemoryRegistry.instancer}.
   *
   * @param options A logger for listener failures.
   * @param onStop Detaches the instancer from its registry.
   */
  constructor(options: InstanceCacheOptions | undefined, onStop: () => void) {
    super(options);
    this.#onStop = onStop;
  }

  /** Detaches from the registry and stops delivery. Idempotent. */
  override stop(): void {
    if (this.stopped) return;
    this.#onStop();
    super.stop();
  }
}

/**
 * The Balancer contract.
 *
 * @module
 */
import type { Endpoint } from "../types.ts";

/**
 * Picks one endpoint per call.
 */
export interface Balancer<Req = unknown, Res = unknown> {
  /**
   * Picks an endpoint.
   *
   * @param exclude Endpoints to avoid if any other is available (retry passes those already tried).
   * @returns An endpoint.
   * @throws {NoEndpointsError} If there is none; the endpointer's error if discovery is invalidated.
   */
  endpoint(exclude?: ReadonlySet<Endpoint<Req, Res>>): Endpoint<Req, Res>;
}

/**
 * Events shared by every Registrar.
 *
 * @module
 */

/** What a registrar reports: it registered, deregistered, or re-registered after the registry lost it. */
export type RegistrarEventType = "registered" | "deregistered" | "reregistered";

/** Dispatched by a Registrar for lifecycle changes. */
export class RegistrarEvent extends Event {
  /** The instance concerned. */
  readonly instance: string;

  /**
   * Creates the event.
   *
   * @param type What happened.
   * @param instance The instance concerned.
   */
  constructor(type: RegistrarEventType, instance: string) {
    super(type);
    this.instance = instance;
  }
}

/** Dispatched by a Registrar as `error` when a registration, keep-alive or removal fails. */
export class RegistrarErrorEvent extends Event {
  /** What went wrong. */
  readonly error: unknown;
  /** The instance concerned. */
  readonly instance: string;

  /**
   * Creates the event.
   *
   * @param error What went wrong.
   * @param instance The instance concerned.
   */
  constructor(error: unknown, instance: string) {
    super("error");
    this.error = error;
    this.instance = instance;
  }
}

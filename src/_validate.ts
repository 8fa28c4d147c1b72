// Eager argument validation with messages that quote the bad value; internal.

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "object" && value !== null) return Array.isArray(value) ? "an array" : "an object";
  return String(value);
}

/** Throws a TypeError unless `value` is a function. */
export function requireFunction(value: unknown, name: string): void {
  if (typeof value !== "function") {
    throw new TypeError(`${name} must be a function, got ${show(value)}`);
  }
}

/** Throws unless `value` is an object with the named method. */
export function requireMethod(value: unknown, method: string, name: string): void {
  if (
    typeof value !== "object" || value === null ||
    typeof (value as Record<string, unknown>)[method] !== "function"
  ) {
    throw new TypeError(`${name} must have a ${method}() method, got ${show(value)}`);
  }
}

/** Throws unless `value` is a finite number >= `min` (and an integer when asked). */
export function requireNumber(
  value: unknown,
  name: string,
  { min = 0, integer = false, finite = true }: { min?: number; integer?: boolean; finite?: boolean } = {},
): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number, got ${show(value)}`);
  }
  if ((finite && !Number.isFinite(value)) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `${name} must be ${integer ? "an integer" : "a finite number"} >= ${min}, got ${show(value)}`,
    );
  }
  return value;
}

/** Throws unless `value` is undefined or an AbortSignal. */
export function requireSignal(value: unknown, name = "signal"): void {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(`${name} must be an AbortSignal, got ${show(value)}`);
  }
}

/** Throws unless `value` is a non-empty string. */
export function requireString(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

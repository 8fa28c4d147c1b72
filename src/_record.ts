// Building records from keys a registry or a caller chose; internal.

/**
 * Sets `record[key] = value` as an ordinary own, enumerable property, the key `__proto__` included,
 * without touching the prototype. A plain assignment would go through the inherited `__proto__`
 * setter, which drops a string value on Node, Bun and browsers but keeps it as an own key on Deno:
 * every runtime would see different metadata.
 */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    record[key] = value;
  }
}

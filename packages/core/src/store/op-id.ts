/**
 * Whether `value` can be an op id (or an environment id): non-empty, printable, no spaces (they
 * separate ids in one string).
 */
export function isOpId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 64 && /^[\x21-\x7e]+$/.test(value)
}

/** A YAML mapping as the parser returns it. */
export type Mapping = Record<string, unknown>

/** Whether `value` is a mapping (and not a list or null). */
export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !isList(value)
}

/** Whether `value` is a list; unlike `Array.isArray`, its items stay `unknown`. */
export function isList(value: unknown): value is unknown[] {
  return Array.isArray(value)
}

/** The value at `key` when `value` is a mapping that has it. */
export function entry(value: unknown, key: string): unknown {
  return isMapping(value) && Object.hasOwn(value, key) ? value[key] : undefined
}

/** The keys of `value` when it is a mapping, otherwise none. */
export function keysOf(value: unknown): string[] {
  return isMapping(value) ? Object.keys(value) : []
}

/**
 * The intrinsic function `value` calls (`Ref`, `Fn::Sub`, ...), or undefined for a literal.
 *
 * CloudFormation resolves these at deployment, so their results cannot be checked here.
 */
export function intrinsicName(value: unknown): string | undefined {
  if (!isMapping(value)) return undefined
  const keys = Object.keys(value)
  const key = keys[0]
  if (keys.length !== 1 || key === undefined) return undefined
  return key === 'Ref' || key.startsWith('Fn::') ? key : undefined
}

/** A short description of what kind of value `value` is, for messages. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (isList(value)) return 'a list'
  if (isMapping(value)) return 'a mapping'
  return `the ${typeof value} ${JSON.stringify(value)}`
}

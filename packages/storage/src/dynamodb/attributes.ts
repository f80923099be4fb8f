import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import type { FlatFields } from '@fleet-breaker/core'

/** A DynamoDB item as the low-level API sends it. */
export type Item = Record<string, AttributeValue>

/** Marks a value of a type the store never writes, so decoding sees it as unreadable. */
const FOREIGN = Symbol('foreign attribute type')

/** Reads one attribute value: numbers become numbers, strings stay strings, lists become arrays. */
function fieldOf(value: AttributeValue): unknown {
  if (value.N !== undefined) return Number(value.N)
  if (value.S !== undefined) return value.S
  if (value.L !== undefined) return value.L.map((element) => (element.S !== undefined ? element.S : FOREIGN))
  return FOREIGN
}

/**
 * Reads an item's attributes as flat record fields: numbers become numbers, strings stay strings,
 * a list (of op ids) becomes an array of its strings, anything else is marked foreign. The store
 * only ever writes `S`, `N` and lists of `S` values.
 */
export function itemToFields(item: Item): FlatFields {
  const fields: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(item)) fields[name] = fieldOf(value)
  return fields
}

/** A string attribute value. */
export function text(value: string): AttributeValue {
  return { S: value }
}

/** A number attribute value. */
export function number(value: number): AttributeValue {
  return { N: String(value) }
}

/** A list of strings attribute value. */
export function texts(values: readonly string[]): AttributeValue {
  return { L: values.map(text) }
}

/** The type name `attribute_type()` knows a value by (`'S'`, `'N'`, `'L'`, ...). */
export function typeOf(value: AttributeValue): string {
  return Object.keys(value).find((key) => key !== '$unknown') ?? 'NULL'
}

/** Whether a value can be compared with `=` in a condition (DynamoDB compares scalars, not documents). */
export function isScalar(value: AttributeValue): boolean {
  return value.S !== undefined || value.N !== undefined || value.B !== undefined || value.BOOL !== undefined
}

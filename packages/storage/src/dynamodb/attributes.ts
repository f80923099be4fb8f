import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import type { FlatFields } from '@fleet-breaker/core'

/** A DynamoDB item as the low-level API sends it. */
export type Item = Record<string, AttributeValue>

/** Marks a value of a type the store never writes, so decoding sees it as unreadable. */
const FOREIGN = Symbol('foreign attribute type')

/**
 * Reads an item's attributes as flat record fields: numbers become numbers, strings stay strings,
 * anything else is marked foreign. The store only ever writes `S` and `N` values.
 */
export function itemToFields(item: Item): FlatFields {
  const fields: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(item)) {
    if (value.N !== undefined) fields[name] = Number(value.N)
    else if (value.S !== undefined) fields[name] = value.S
    else fields[name] = FOREIGN
  }
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

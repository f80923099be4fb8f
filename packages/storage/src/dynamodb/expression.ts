import type { AttributeValue } from '@aws-sdk/client-dynamodb'

/** The expression parts of an UpdateItem request. */
export interface UpdateParts {
  readonly UpdateExpression: string
  readonly ConditionExpression?: string
  readonly ExpressionAttributeNames: Record<string, string>
  readonly ExpressionAttributeValues?: Record<string, AttributeValue>
}

/**
 * Builds an update and its condition from named clauses. Every attribute name and value goes
 * through a placeholder (state, ttl and others are reserved words), and only placeholders that
 * are used are sent: DynamoDB rejects unused ones.
 */
export class UpdateBuilder {
  readonly #names = new Map<string, string>()
  readonly #values = new Map<string, { placeholder: string; value: AttributeValue }>()
  readonly #set: string[] = []
  readonly #setAttributes = new Set<string>()
  readonly #add: string[] = []
  readonly #remove = new Set<string>()
  readonly #conditions: string[] = []

  /** The placeholder of an attribute name. */
  name(attribute: string): string {
    let placeholder = this.#names.get(attribute)
    if (placeholder === undefined) {
      placeholder = `#n${this.#names.size}`
      this.#names.set(attribute, placeholder)
    }
    return placeholder
  }

  /** The placeholder of a value (equal values share one). */
  value(value: AttributeValue): string {
    const key = JSON.stringify(value)
    let entry = this.#values.get(key)
    if (entry === undefined) {
      entry = { placeholder: `:v${this.#values.size}`, value }
      this.#values.set(key, entry)
    }
    return entry.placeholder
  }

  /** `SET attribute = expression`, where `expression` is built from placeholders. */
  set(attribute: string, expression: string): this {
    this.#remove.delete(attribute)
    this.#setAttributes.add(attribute)
    this.#set.push(`${this.name(attribute)} = ${expression}`)
    return this
  }

  /** `SET attribute = value`. */
  setValue(attribute: string, value: AttributeValue): this {
    return this.set(attribute, this.value(value))
  }

  /** `ADD attribute value` (an atomic increment). */
  add(attribute: string, value: AttributeValue): this {
    this.#add.push(`${this.name(attribute)} ${this.value(value)}`)
    return this
  }

  /** `REMOVE attribute`, unless the same update sets it. */
  remove(...attributes: readonly string[]): this {
    for (const attribute of attributes) {
      if (!this.#setAttributes.has(attribute)) this.#remove.add(attribute)
    }
    return this
  }

  /**
   * A condition clause; clauses are joined with AND, and one that has an OR outside parentheses
   * is wrapped in a pair. Write clauses flat, relying on precedence (NOT, then AND, then OR) rather
   * than nested parentheses: besides reading better, flat expressions keep DynamoDB-compatible
   * local servers fast (dynalite's parser slows down exponentially with nesting).
   */
  when(clause: string): this {
    this.#conditions.push(hasTopLevelOr(clause) ? `(${clause})` : clause)
    return this
  }

  build(): UpdateParts {
    const sections: string[] = []
    if (this.#set.length > 0) sections.push(`SET ${this.#set.join(', ')}`)
    if (this.#add.length > 0) sections.push(`ADD ${this.#add.join(', ')}`)
    const removed = [...this.#remove].map((attribute) => this.name(attribute))
    if (removed.length > 0) sections.push(`REMOVE ${removed.join(', ')}`)
    const values = Object.fromEntries([...this.#values.values()].map(({ placeholder, value }) => [placeholder, value]))
    return {
      UpdateExpression: sections.join(' '),
      ...(this.#conditions.length === 0 ? {} : { ConditionExpression: this.#conditions.join(' AND ') }),
      ExpressionAttributeNames: Object.fromEntries(
        [...this.#names].map(([attribute, placeholder]) => [placeholder, attribute]),
      ),
      ...(this.#values.size === 0 ? {} : { ExpressionAttributeValues: values }),
    }
  }
}

/** Whether `clause` has an OR outside any parentheses. */
function hasTopLevelOr(clause: string): boolean {
  let depth = 0
  for (let index = 0; index < clause.length; index++) {
    const char = clause[index]
    if (char === '(') depth++
    else if (char === ')') depth--
    else if (depth === 0 && clause.startsWith(' OR ', index)) return true
  }
  return false
}

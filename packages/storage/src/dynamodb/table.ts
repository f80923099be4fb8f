/** What {@link circuitTableDefinition} needs to know about the table. */
export interface CircuitTableOptions {
  readonly tableName: string
  /** Default `'id'`. */
  readonly partitionKey?: string
  /** Single-table mode's sort key attribute, if any. */
  readonly sortKeyName?: string
}

/**
 * The `CreateTable` input of a table for `DynamoDBStore`: a string partition key (and sort key in
 * single-table mode), on-demand billing. Enable TTL on the store's `ttlAttribute` separately
 * (`UpdateTimeToLive`), or use the CloudFormation definition in the package README.
 *
 * @example
 * ```ts
 * await client.send(new CreateTableCommand(circuitTableDefinition({ tableName: 'circuit-breakers' })))
 * ```
 */
export function circuitTableDefinition(options: CircuitTableOptions) {
  const partitionKey = options.partitionKey ?? 'id'
  const keys = [
    { name: partitionKey, type: 'HASH' as const },
    ...(options.sortKeyName === undefined ? [] : [{ name: options.sortKeyName, type: 'RANGE' as const }]),
  ]
  return {
    TableName: options.tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: 'S' as const })),
    KeySchema: keys.map((key) => ({ AttributeName: key.name, KeyType: key.type })),
  }
}

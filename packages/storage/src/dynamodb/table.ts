/** What {@link circuitTableDefinition} needs to know about the table. */
export interface CircuitTableOptions {
  readonly tableName: string
  /** Default `'id'`. */
  readonly partitionKey?: string
  /** Single-table mode's sort key attribute, if any. */
  readonly sortKeyName?: string
  /**
   * Single-table mode: also define the inverted index `list` can query (see the store's
   * `listIndexName`): partition key the sort key attribute, sort key the partition key attribute.
   */
  readonly listIndexName?: string
  /** The store's `ttlAttribute`, for {@link circuitTableTimeToLive}. Default `'expiresAt'`; `false` for none. */
  readonly ttlAttribute?: string | false
}

/**
 * The `CreateTable` input of a table for `DynamoDBStore`: a string partition key (and sort key in
 * single-table mode), on-demand billing. DynamoDB's `CreateTable` cannot enable TTL: once the
 * table is active, send {@link circuitTableTimeToLive} as an `UpdateTimeToLive` (or declare the
 * table in CloudFormation with the `TimeToLiveSpecification` shown in the package README).
 *
 * @example
 * ```ts
 * await client.send(new CreateTableCommand(circuitTableDefinition({ tableName: 'circuit-breakers' })))
 * await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: 'circuit-breakers' })
 * await client.send(new UpdateTimeToLiveCommand(circuitTableTimeToLive({ tableName: 'circuit-breakers' })))
 * ```
 */
export function circuitTableDefinition(options: CircuitTableOptions) {
  const partitionKey = options.partitionKey ?? 'id'
  const keys = [
    { name: partitionKey, type: 'HASH' as const },
    ...(options.sortKeyName === undefined ? [] : [{ name: options.sortKeyName, type: 'RANGE' as const }]),
  ]
  const { listIndexName, sortKeyName } = options
  const index =
    listIndexName === undefined || sortKeyName === undefined
      ? {}
      : {
          GlobalSecondaryIndexes: [
            {
              IndexName: listIndexName,
              KeySchema: [
                { AttributeName: sortKeyName, KeyType: 'HASH' as const },
                { AttributeName: partitionKey, KeyType: 'RANGE' as const },
              ],
              Projection: { ProjectionType: 'ALL' as const },
            },
          ],
        }
  return {
    TableName: options.tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: 'S' as const })),
    KeySchema: keys.map((key) => ({ AttributeName: key.name, KeyType: key.type })),
    ...index,
  }
}

/**
 * The `UpdateTimeToLive` input that enables TTL on the store's `ttlAttribute` (`'expiresAt'` by
 * default), so abandoned circuits expire; `undefined` with `ttlAttribute: false`. Send it once
 * the table from {@link circuitTableDefinition} is active.
 *
 * @example
 * ```ts
 * const timeToLive = circuitTableTimeToLive({ tableName: 'circuit-breakers' })
 * if (timeToLive !== undefined) await client.send(new UpdateTimeToLiveCommand(timeToLive))
 * ```
 */
export function circuitTableTimeToLive(options: CircuitTableOptions) {
  const attribute = options.ttlAttribute ?? 'expiresAt'
  if (attribute === false) return undefined
  return {
    TableName: options.tableName,
    TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
  }
}

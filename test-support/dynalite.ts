import type { AddressInfo } from 'node:net'
import { CreateTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { circuitTableDefinition } from '@fleet-breaker/storage/dynamodb'
import dynalite from 'dynalite'

/** A DynamoDB-compatible server in this process, for integration tests. */
export interface LocalDynamoDB {
  readonly endpoint: string
  /** A new client (its own connection pool), as one Lambda execution environment would have. */
  client(config?: DynamoDBClientConfig): DynamoDBClient
  /** Creates a table with a string partition key (and sort key), like the SAM template's. */
  createTable(tableName: string, keys?: { partitionKey?: string; sortKey?: string }): Promise<void>
  stop(): Promise<void>
}

/** Starts dynalite on a free loopback port, keeping its data in memory. */
export async function startDynalite(): Promise<LocalDynamoDB> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const clients: DynamoDBClient[] = []
  const client = (config: DynamoDBClientConfig = {}) => {
    const created = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      ...config,
    })
    clients.push(created)
    return created
  }
  return {
    endpoint,
    client,
    async createTable(tableName, keys = {}) {
      const admin = client()
      await admin.send(
        new CreateTableCommand(
          circuitTableDefinition({
            tableName,
            ...(keys.partitionKey === undefined ? {} : { partitionKey: keys.partitionKey }),
            ...(keys.sortKey === undefined ? {} : { sortKeyName: keys.sortKey }),
          }),
        ),
      )
    },
    async stop() {
      for (const created of clients) created.destroy()
      await new Promise<void>((resolve, reject) => server.close((error?: Error) => (error ? reject(error) : resolve())))
    },
  }
}

import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { startEmbeddedDynamoDB } from './embedded-dynamodb.js'
import { type SharedStoreBackend, StoreKind } from './store-backend.js'

const TABLE = 'fleet-simulation'

/**
 * The breakers keep their default store deadline (500 ms): dynalite applies the writes to one item
 * one after another, so the burst of failures from 200 environments at the start of an outage
 * queues where DynamoDB takes milliseconds, and some writes miss the deadline. That is the case the
 * breaker must handle (each environment then counts its own failures), so the simulation keeps it.
 */
const CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000 },
} as const

/**
 * The DynamoDB backend with nothing to set up: an embedded dynalite with the breaker's table.
 * Each {@link SharedStoreBackend.connect} builds a client of its own.
 *
 * @example
 * ```ts
 * const backend = await startDynamoDBBackend()
 * const { store } = await backend.connect()
 * await backend.close()
 * ```
 */
export async function startDynamoDBBackend(): Promise<SharedStoreBackend> {
  const dynamo = await startEmbeddedDynamoDB()
  try {
    await dynamo.createTable(TABLE)
  } catch (error) {
    await dynamo.stop()
    throw error
  }
  return {
    kind: StoreKind.DYNAMODB,
    description: 'DynamoDB (embedded dynalite)',
    async connect() {
      const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client(CLIENT_CONFIG) })
      // What an environment's init phase does: open the connection before the first invocation.
      await store.get('connection-warm-up')
      // The embedded server destroys every client it made when it stops.
      return { store, close: async () => {} }
    },
    close: () => dynamo.stop(),
  }
}

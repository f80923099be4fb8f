import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { startEmbeddedDynamoDB } from './embedded-dynamodb.js'
import { type SharedStoreBackend, StoreKind } from './store-backend.js'

const TABLE = 'fleet-simulation'

/**
 * dynalite applies the writes to one item one after another, at about a millisecond each, and a
 * contended conditional write takes a few attempts: the burst of failures from 200 environments at
 * the start of an outage queues for most of a second, where DynamoDB takes milliseconds. With the
 * breaker's default 500 ms store deadline the breakers would give up on the store and fail open,
 * which would measure the stand-in rather than the breaker; so they wait longer for it.
 */
const STORE_TIMEOUT_MS = 5_000
const CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: STORE_TIMEOUT_MS },
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
    storeTimeoutMs: STORE_TIMEOUT_MS,
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

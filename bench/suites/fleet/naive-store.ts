import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import type { CircuitState } from '@fleet-breaker/core'
import { Redis } from 'ioredis'
import { startEmbeddedDynamoDB } from '../../../examples/fleet/embedded-dynamodb.js'
import { StoreKind } from '../../../examples/fleet/store-backend.js'

/** The whole circuit, as the naive design keeps it: one record, read and written in one piece. */
export interface NaiveRecord {
  readonly state: CircuitState
  /** Failures in a row counted so far. */
  readonly failures: number
  /** When the circuit last opened, in epoch milliseconds; 0 if it never did. */
  readonly openedAt: number
}

/** The record of a circuit nobody has written yet. */
export const EMPTY_RECORD: NaiveRecord = { state: 'CLOSED', failures: 0, openedAt: 0 }

/** One environment's client of the naive record. */
export interface NaiveRecordClient {
  /** The record, or `undefined` when none was written. One round trip. */
  read(): Promise<NaiveRecord | undefined>
  /**
   * Replaces the whole record, without a condition: the last writer wins. One round trip.
   * Resolves to the record it replaced, which only the benchmark's audit looks at (DynamoDB:
   * `ReturnValues: 'ALL_OLD'`; Redis: `SET ... GET`); the breaker never decides on it.
   */
  write(record: NaiveRecord): Promise<NaiveRecord | undefined>
  close(): Promise<void>
}

/** A store the naive breaker keeps its record in, with a client per environment. */
export interface NaiveBackend {
  readonly kind: StoreKind
  readonly description: string
  /** A new client for one environment, for the record under `key`, ready to use. */
  connect(key: string): Promise<NaiveRecordClient>
  close(): Promise<void>
}

const STATES: ReadonlySet<string> = new Set<CircuitState>(['CLOSED', 'OPEN', 'HALF_OPEN'])
const isState = (value: unknown): value is CircuitState => typeof value === 'string' && STATES.has(value)

/**
 * Starts the naive breaker's store of `kind`: a map in this process, an embedded dynalite (its own
 * server, with the same settings as the fleet-breaker runs), or connections to a running Redis.
 *
 * @example
 * ```ts
 * const backend = await startNaiveBackend('dynamodb')
 * const client = await backend.connect('payment-api')
 * await client.write({ state: 'OPEN', failures: 5, openedAt: Date.now() })
 * await backend.close()
 * ```
 */
export async function startNaiveBackend(kind: StoreKind, redisUrl?: string): Promise<NaiveBackend> {
  switch (kind) {
    case StoreKind.MEMORY:
      return memoryBackend()
    case StoreKind.DYNAMODB:
      return dynamoDBBackend()
    case StoreKind.REDIS:
      return redisBackend(redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  }
}

function memoryBackend(): NaiveBackend {
  const records = new Map<string, NaiveRecord>()
  return {
    kind: StoreKind.MEMORY,
    description: 'one in-process map',
    connect: async (key) => ({
      read: async () => records.get(key),
      async write(record) {
        const replaced = records.get(key)
        records.set(key, record)
        return replaced
      },
      close: async () => {},
    }),
    close: async () => {},
  }
}

const TABLE = 'naive-breaker'
/** As the fleet-breaker DynamoDB runs: dynalite queues writes to one item, so allow it time. */
const DYNAMODB_CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000 },
} as const

async function dynamoDBBackend(): Promise<NaiveBackend> {
  const dynamo = await startEmbeddedDynamoDB()
  try {
    await dynamo.createTable(TABLE)
  } catch (error) {
    await dynamo.stop()
    throw error
  }
  return {
    kind: StoreKind.DYNAMODB,
    description: 'DynamoDB (embedded dynalite), GetItem and PutItem',
    async connect(key) {
      const client = dynamo.client(DYNAMODB_CLIENT_CONFIG)
      // What an environment's init phase does: open the connection before the first invocation.
      await getItem(client, 'connection-warm-up')
      return {
        read: () => getItem(client, key),
        async write(record) {
          const output = await client.send(
            new PutItemCommand({
              TableName: TABLE,
              Item: {
                id: { S: key },
                state: { S: record.state },
                failures: { N: String(record.failures) },
                openedAt: { N: String(record.openedAt) },
              },
              ReturnValues: 'ALL_OLD',
            }),
          )
          return fromItem(output.Attributes)
        },
        // The embedded server destroys every client it made when it stops.
        close: async () => {},
      }
    },
    close: () => dynamo.stop(),
  }
}

async function getItem(client: DynamoDBClient, key: string): Promise<NaiveRecord | undefined> {
  const output = await client.send(
    new GetItemCommand({ TableName: TABLE, Key: { id: { S: key } }, ConsistentRead: true }),
  )
  return fromItem(output.Item)
}

function fromItem(
  item: Record<string, { S?: string | undefined; N?: string | undefined }> | undefined,
): NaiveRecord | undefined {
  if (item === undefined) return undefined
  return toRecord({ state: item.state?.S, failures: Number(item.failures?.N), openedAt: Number(item.openedAt?.N) })
}

/** Client settings for a store on the hot path, as the fleet-breaker Redis runs use. */
const REDIS_CLIENT_OPTIONS = {
  connectTimeout: 1_000,
  commandTimeout: 500,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
} as const

function redisBackend(url: string): NaiveBackend {
  return {
    kind: StoreKind.REDIS,
    description: `Redis at ${url}, GET and SET`,
    async connect(key) {
      const client = new Redis(url, REDIS_CLIENT_OPTIONS)
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve())
        client.once('error', (error: Error) => reject(error))
      }).catch((error: unknown) => {
        client.disconnect()
        throw error
      })
      const redisKey = `naive-breaker:${key}`
      return {
        read: async () => parseJson(await client.get(redisKey)),
        // An hour's expiry keeps a benchmark's keys from piling up in the server.
        write: async (record) => parseJson(await client.set(redisKey, JSON.stringify(record), 'EX', 3_600, 'GET')),
        async close() {
          await client.quit()
        },
      }
    },
    close: async () => {},
  }
}

function parseJson(text: string | null): NaiveRecord | undefined {
  if (text === null) return undefined
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null) throw new Error(`not a circuit record: ${text}`)
  return toRecord(value)
}

function toRecord(value: { state?: unknown; failures?: unknown; openedAt?: unknown }): NaiveRecord {
  const { state, failures, openedAt } = value
  if (!isState(state) || typeof failures !== 'number' || typeof openedAt !== 'number') {
    throw new Error(`not a circuit record: ${JSON.stringify(value)}`)
  }
  if (!Number.isFinite(failures) || !Number.isFinite(openedAt)) {
    throw new Error(`not a circuit record: ${JSON.stringify(value)}`)
  }
  return { state, failures, openedAt }
}

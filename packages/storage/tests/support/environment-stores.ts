import type { CircuitStore } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { Redis } from 'ioredis'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { testRedisUrl } from '../../../../test-support/redis.js'

/** A shared store, of which each simulated execution environment gets a client of its own. */
export interface EnvironmentStores {
  readonly name: 'DynamoDB' | 'Redis'
  /** A store with its own client (its own connections), as one execution environment would have. */
  environmentStore(): CircuitStore
}

/**
 * DynamoDB (an in-process dynalite with `table`) and Redis (the test server, keys under `prefix`),
 * started in `beforeAll` and closed in `afterAll` of the calling test file.
 *
 * @example
 * ```ts
 * const backends = environmentStores('fleet-scenarios', beforeAll, afterAll)
 * describe.each(backends)('on $name', (backend) => { ... backend.environmentStore() ... })
 * ```
 */
export function environmentStores(
  name: string,
  beforeAll: (setup: () => Promise<void>) => void,
  afterAll: (teardown: () => Promise<void>) => void,
): readonly EnvironmentStores[] {
  let dynamo: LocalDynamoDB | undefined
  const redisClients: Redis[] = []
  beforeAll(async () => {
    dynamo = await startDynalite()
    await dynamo.createTable(name)
  })
  afterAll(async () => {
    await Promise.all(redisClients.map((client) => client.quit()))
    await dynamo?.stop()
  })
  return [
    {
      name: 'DynamoDB',
      environmentStore: () => {
        if (dynamo === undefined) throw new Error('dynalite is started in beforeAll')
        return new DynamoDBStore({ tableName: name, client: dynamo.client() })
      },
    },
    {
      name: 'Redis',
      environmentStore: () => {
        const client = new Redis(testRedisUrl())
        redisClients.push(client)
        return new RedisStore({ client, keyPrefix: `${name}:` })
      },
    },
  ]
}

import { randomUUID } from 'node:crypto'
import type { CircuitStore } from '@fleet-breaker/core'
import { closeStoresFromEnvironment, createStoreFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type FaultHandle, type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import {
  type BlackHole,
  type BuiltCli,
  baseEnv,
  buildCli,
  dynamoEnv,
  expectOneLineFailure,
  parsed,
  runCli,
  startBlackHole,
} from '../support/cli.js'

// Subprocesses whose every store answer is late, on a loaded two-core machine.
jest.setTimeout(180_000)

/*
 * An operator's command over a slow network: every answer of the store arrives 1.5 s late, three
 * times what a function's hot-path client waits for one request and well inside the 5 s the CLI's
 * client waits. And `--timeout`, which ends a command against a store that never answers.
 */
const DELAY_MS = 1_500
const TABLE = 'circuits'
// The shared Redis server is never flushed: this file's circuits live under a prefix of their own.
const prefix = `cli-slow-${randomUUID()}:`

let cli: BuiltCli
let dynamo: LocalDynamoDB
let hole: BlackHole
let dynamoProxy: FaultProxy
let redisProxy: FaultProxy
/** The delay of every answer, per proxy. */
const delays = new Map<FaultProxy, FaultHandle>()

beforeAll(async () => {
  ;[cli, dynamo, hole] = await Promise.all([buildCli(), startDynalite(), startBlackHole()])
  await dynamo.createTable(TABLE)
  const redis = new URL(testRedisUrl())
  ;[dynamoProxy, redisProxy] = await Promise.all([
    startFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(dynamo.endpoint).port) }, protocol: 'http' }),
    startFaultProxy({ target: { host: redis.hostname, port: Number(redis.port) }, protocol: 'resp' }),
  ])
  for (const proxy of [dynamoProxy, redisProxy]) delays.set(proxy, proxy.delayReplies(DELAY_MS))
})

afterAll(async () => {
  await Promise.all([dynamoProxy?.stop(), redisProxy?.stop()])
  await Promise.all([cli?.remove(), dynamo?.stop(), hole?.stop()])
})

interface Backend {
  readonly name: string
  readonly proxy: () => FaultProxy
  /** The CLI's settings for the store behind the slow proxy. */
  readonly env: () => Record<string, string>
  /** The same store as a function builds it, with the factory's hot-path client. */
  readonly hotPathStore: () => Promise<CircuitStore>
}

const backends: readonly Backend[] = [
  {
    name: 'DynamoDB',
    proxy: () => dynamoProxy,
    env: () => dynamoEnv(dynamoProxy.url, { CIRCUIT_BREAKER_TABLE: TABLE }),
    // Only where to send requests is given: the timeouts stay the hot path's.
    hotPathStore: () =>
      createStoreFromEnvironment({
        env: { CIRCUIT_BREAKER_TABLE: TABLE },
        logger: silentLogger,
        dynamodb: {
          clientConfig: {
            endpoint: dynamoProxy.url,
            region: 'us-east-1',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          },
        },
      }),
  },
  {
    name: 'Redis',
    proxy: () => redisProxy,
    env: () =>
      baseEnv({
        CIRCUIT_BREAKER_STORE: 'redis',
        CIRCUIT_BREAKER_REDIS_URL: redisProxy.url,
        CIRCUIT_BREAKER_KEY_PREFIX: prefix,
      }),
    hotPathStore: () =>
      createStoreFromEnvironment({
        env: {
          CIRCUIT_BREAKER_STORE: 'redis',
          CIRCUIT_BREAKER_REDIS_URL: redisProxy.url,
          CIRCUIT_BREAKER_KEY_PREFIX: prefix,
        },
        logger: silentLogger,
      }),
  },
]

describe.each(backends)('fleet-breaker on $name over a slow network', (backend) => {
  it('a function’s hot-path client gives up on answers this late', async () => {
    try {
      const store = await backend.hotPathStore()
      // Past its request timeout (DynamoDB), or with the connection still not ready at its connect
      // timeout (Redis: the handshake's answers are late too), it fails fast.
      await expect(store.get('slow-api')).rejects.toThrow()
    } finally {
      await closeStoresFromEnvironment()
    }
  })

  it('an operator’s commands succeed all the same, --timeout included', async () => {
    const delay = delays.get(backend.proxy())
    const delayedBefore = delay?.applied ?? 0
    const [opened] = parsed(
      await runCli(
        cli,
        ['open', 'slow-api', '--reason', 'provider throttles', '--actor', 'alice', '--create', '--json'],
        backend.env(),
      ),
    ) as [Record<string, unknown>]
    expect(opened).toMatchObject({ circuitId: 'slow-api', state: 'OPEN' })
    const [status] = parsed(await runCli(cli, ['--timeout', '60s', 'status', 'slow-api', '--json'], backend.env())) as [
      Record<string, unknown>,
    ]
    expect(status).toMatchObject({ state: 'OPEN', override: { reason: 'provider throttles', actor: 'alice' } })
    // The commands' answers were the late ones.
    expect(delay?.applied ?? 0).toBeGreaterThan(delayedBefore)
  })
})

describe('fleet-breaker --timeout', () => {
  it('ends a command against a store that never answers: exit 1 and one line, long before its client gives up', async () => {
    const endpoint = `http://127.0.0.1:${hole.port}`
    const started = Date.now()
    const result = await runCli(cli, ['--timeout', '1s', 'list'], dynamoEnv(endpoint, { CIRCUIT_BREAKER_TABLE: TABLE }))
    const elapsedMs = Date.now() - started
    expectOneLineFailure(result, 1)
    expect(result.stderr).toBe(
      `error: no answer from DynamoDB table "${TABLE}" (region us-east-1, endpoint ${endpoint}) within --timeout 1s: ` +
        'check --region, AWS_ENDPOINT_URL_DYNAMODB and your network, or give the command a longer --timeout\n',
    )
    // Without --timeout the client's three attempts of 5 s each come first: 15 s at the least.
    expect(elapsedMs).toBeLessThan(12_000)
  })

  it('ends a watch whose first refresh never comes', async () => {
    const url = `redis://127.0.0.1:${hole.port}`
    const result = await runCli(
      cli,
      ['watch', 'slow-api', '--timeout', '1500ms'],
      baseEnv({ CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: url }),
    )
    expectOneLineFailure(result, 1)
    expect(result.stderr).toBe(
      `error: no answer from Redis at ${url} within --timeout 1s500ms: ` +
        'check --redis-url (or CIRCUIT_BREAKER_REDIS_URL) and your network, or give the command a longer --timeout\n',
    )
  })
})

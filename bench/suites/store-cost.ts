/**
 * What the shared store costs per invocation, per path, on DynamoDB (dynalite, in process) and
 * Redis, with the local cache on and off: store round trips and writes, counted, and the latency
 * a breaker adds over a bare call, measured.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, type CircuitStore, type Logger } from '@fleet-breaker/core'
import { InstrumentedStore } from '@fleet-breaker/core/testing'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { Redis } from 'ioredis'
import { startDynalite } from '../../test-support/dynalite.js'
import { redisAnswers } from '../../test-support/redis-setup.js'
import { table } from '../lib/markdown.js'
import { quantile } from '../lib/stats.js'
import type { Suite, TargetCheck } from '../lib/suite.js'

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }
const TABLE = 'bench-store-cost'

interface Backend {
  readonly name: string
  /** A store on a client of its own, and a count of the requests that client sent. */
  store(): { store: CircuitStore; requests: () => number }
  close(): Promise<void>
}

async function dynamoBackend(): Promise<Backend> {
  const dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  return {
    name: 'DynamoDB (dynalite)',
    store() {
      const client = dynamo.client()
      let requests = 0
      // In the deserialize step, inside the SDK's retry loop: every attempt sent is counted, retries too.
      client.middlewareStack.add(
        (next) => async (args) => {
          requests++
          return next(args)
        },
        { step: 'deserialize', name: 'countAttemptsSent' },
      )
      return { store: new DynamoDBStore({ tableName: TABLE, client }), requests: () => requests }
    },
    close: () => dynamo.stop(),
  }
}

async function redisBackend(url: string): Promise<Backend> {
  const clients: Redis[] = []
  return {
    name: 'Redis',
    store() {
      const client = new Redis(url)
      clients.push(client)
      let requests = 0
      // Every command the client writes to the socket goes through sendCommand: EVALSHA, and the
      // EVAL that reloads a script the server answered NOSCRIPT for, are each counted.
      const sendCommand = client.sendCommand.bind(client)
      client.sendCommand = ((...args: Parameters<typeof sendCommand>) => {
        requests++
        return sendCommand(...args)
      }) as typeof client.sendCommand
      return { store: new RedisStore({ client, keyPrefix: 'bench-store-cost:' }), requests: () => requests }
    },
    close: async () => {
      await Promise.all(clients.map((client) => client.quit()))
    },
  }
}

interface PathResult {
  readonly backend: string
  readonly path: string
  readonly cache: 'on' | 'off'
  readonly reads: number
  readonly writes: number
  readonly requests: number
  readonly addedP50Ms: number
  readonly addedP99Ms: number
}

const failing = async (): Promise<never> => {
  throw Object.assign(new Error('service unavailable'), { statusCode: 503 })
}
const healthy = async (): Promise<number> => 1

interface Path {
  readonly name: string
  /** Options of the breaker this path is measured on. */
  readonly options: { failureThreshold: number; resetTimeoutMs: number }
  /** Brings a fresh circuit to the state the path starts from. */
  prepare(breaker: CircuitBreaker): Promise<void>
  /** The measured call. */
  readonly call: () => Promise<number>
  /** Each sample needs a fresh circuit (the call changes its state). */
  readonly freshCircuit: boolean
}

const warm = async (breaker: CircuitBreaker) => {
  await breaker.execute(healthy)
}
const open = async (breaker: CircuitBreaker) => {
  await breaker.execute(failing).catch(() => undefined)
}

const PATHS: readonly Path[] = [
  {
    name: 'healthy success',
    options: { failureThreshold: 5, resetTimeoutMs: 60_000 },
    prepare: warm,
    call: healthy,
    freshCircuit: false,
  },
  {
    name: 'failure (below the threshold)',
    options: { failureThreshold: 1_000_000, resetTimeoutMs: 60_000 },
    prepare: warm,
    call: failing,
    freshCircuit: false,
  },
  {
    name: 'open rejection',
    options: { failureThreshold: 1, resetTimeoutMs: 600_000 },
    prepare: open,
    call: healthy,
    freshCircuit: false,
  },
  {
    name: 'opening failure (reaches the threshold)',
    options: { failureThreshold: 1, resetTimeoutMs: 600_000 },
    prepare: warm,
    call: failing,
    freshCircuit: true,
  },
  {
    name: 'success right after a failure',
    options: { failureThreshold: 1_000_000, resetTimeoutMs: 60_000 },
    prepare: async (breaker) => {
      await warm(breaker)
      await breaker.execute(failing).catch(() => undefined)
    },
    call: healthy,
    freshCircuit: true,
  },
  {
    name: 'failing probe (reopens)',
    options: { failureThreshold: 1, resetTimeoutMs: 1 },
    prepare: async (breaker) => {
      await open(breaker)
      await sleep(3)
    },
    call: failing,
    freshCircuit: true,
  },
  {
    name: 'probe (closes the circuit)',
    options: { failureThreshold: 1, resetTimeoutMs: 1 },
    prepare: async (breaker) => {
      await open(breaker)
      await sleep(3)
    },
    call: healthy,
    freshCircuit: true,
  },
]

async function timeCall(call: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint()
  await call().catch(() => undefined)
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function measurePath(backend: Backend, path: Path, cacheTtlMs: number, samples: number): Promise<PathResult> {
  const { store: inner, requests } = backend.store()
  const store = new InstrumentedStore(inner)
  const newBreaker = () =>
    new CircuitBreaker({ circuitId: `cost-${randomUUID()}`, store, logger: silent, cacheTtlMs, ...path.options })
  let breaker = newBreaker()
  await path.prepare(breaker)
  const bare: number[] = []
  const guarded: number[] = []
  let reads = 0
  let writes = 0
  let sent = 0
  for (let sample = 0; sample < samples; sample++) {
    if (path.freshCircuit && sample > 0) {
      breaker = newBreaker()
      await path.prepare(breaker)
    }
    bare.push(await timeCall(path.call))
    store.resetCounts()
    const before = requests()
    const current = breaker
    guarded.push(await timeCall(() => current.execute(path.call)))
    reads += store.reads
    writes += store.writes
    sent += requests() - before
  }
  const bareMedian = quantile(bare, 0.5)
  return {
    backend: backend.name,
    path: path.name,
    cache: cacheTtlMs > 0 ? 'on' : 'off',
    reads: reads / samples,
    writes: writes / samples,
    requests: sent / samples,
    addedP50Ms: quantile(guarded, 0.5) - bareMedian,
    addedP99Ms: quantile(guarded, 0.99) - bareMedian,
  }
}

const perCall = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(2))

export const storeCost: Suite = async ({ quick, log }) => {
  const samples = quick ? 30 : 400
  const backends: Backend[] = [await dynamoBackend()]
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const redisNote = (await redisAnswers(redisUrl))
    ? ''
    : `No Redis server answered at ${redisUrl}, so there are no Redis rows in this run.`
  if (redisNote === '') backends.push(await redisBackend(redisUrl))
  const results: PathResult[] = []
  try {
    for (const backend of backends) {
      for (const path of PATHS) {
        for (const cacheTtlMs of [5_000, 0]) {
          const result = await measurePath(
            backend,
            path,
            cacheTtlMs,
            path.freshCircuit ? Math.ceil(samples / 4) : samples,
          )
          log(
            `${backend.name}, ${path.name}, cache ${result.cache}: ${perCall(result.requests)} requests, +${result.addedP50Ms.toFixed(3)} ms p50`,
          )
          results.push(result)
        }
      }
    }
  } finally {
    for (const backend of backends) await backend.close()
  }

  const row = (result: PathResult) => [
    result.backend,
    result.path,
    result.cache,
    perCall(result.reads),
    perCall(result.writes),
    perCall(result.requests),
    result.addedP50Ms.toFixed(3),
    result.addedP99Ms.toFixed(3),
  ]
  const find = (path: string, cache: 'on' | 'off') =>
    results.filter((result) => result.path === path && result.cache === cache)
  const checks: TargetCheck[] = [
    {
      target: 'a cache hit makes no round trip',
      met: find('healthy success', 'on').every((result) => result.requests === 0),
      detail: find('healthy success', 'on')
        .map((result) => `${result.backend}: ${perCall(result.requests)}`)
        .join(', '),
    },
    {
      target: 'a healthy success makes no write',
      met: results.filter((result) => result.path === 'healthy success').every((result) => result.writes === 0),
      detail: 'cache on and off, every backend',
    },
    {
      target: 'a decision never needs more than one round trip on the success path',
      met: find('healthy success', 'off').every((result) => result.requests <= 1),
      detail: find('healthy success', 'off')
        .map((result) => `${result.backend}, cache off: ${perCall(result.requests)}`)
        .join(', '),
    },
  ]
  // Requests beyond one per store operation, per call, on the paths that sent any.
  const extraRequests = results.flatMap((result) => {
    const extra = result.requests - result.reads - result.writes
    return extra > 0
      ? [`${result.backend}, ${result.path}, cache ${result.cache}: ${extra.toFixed(3)} more a call`]
      : []
  })
  const dynamoHealthy = find('healthy success', 'off').find((result) => result.backend.startsWith('DynamoDB'))
  const markdown = [
    `Each path is measured ${samples} times (probes ${Math.ceil(samples / 4)} times, each on a fresh circuit) ` +
      'through a breaker whose store is wrapped to count store operations (reads are `get`, writes everything ' +
      "else) and whose client counts the requests it really sends (DynamoDB: every HTTP attempt, counted inside the SDK's " +
      'retry loop, so retries count; Redis: every command written, so a script reloaded after NOSCRIPT counts). "Added" is ' +
      'the latency of `execute()` minus the median of the same call made bare, in milliseconds; both stores ' +
      'run on this machine, so these are lower bounds of what a network adds. The cache is `cacheTtlMs: 5000` ' +
      '(on) or `0` (off).',
    redisNote,
    '',
    table(
      ['Store', 'Path', 'Cache', 'Reads', 'Writes', 'Requests', 'Added p50 (ms)', 'Added p99 (ms)'],
      results.map(row),
    ),
    '',
    'A healthy circuit costs no writes at all, and with the cache on, no requests: one read per ' +
      'environment every `cacheTtlMs`. A failure costs one write (the one that opens the circuit, two); the ' +
      'first success after a failure costs one write (it clears the count); a rejection while open costs ' +
      'nothing while the cached OPEN holds; a probe costs two writes (enter half-open holding the lease, then ' +
      'close, or reopen when it fails), once per recovery attempt for the whole fleet. Requests are what the ' +
      `client sent: ${extraRequests.length === 0 ? 'here exactly one per store operation (no retry, no script reload on this machine)' : `one per store operation but for retries and script reloads (${extraRequests.join('; ')})`}; ` +
      'on a network retries and reloads add to the requests, never to the store operations.',
  ].join('\n')
  return {
    id: 'store-cost',
    title: 'Shared-store cost per invocation',
    markdown,
    checks,
    data: results,
    headlines: [
      `Store cost: a healthy call costs 0 store requests with the cache on, ${perCall(dynamoHealthy?.requests ?? Number.NaN)} read with it off; never a write.`,
    ],
  }
}

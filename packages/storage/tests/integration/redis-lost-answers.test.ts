import { randomUUID } from 'node:crypto'
import { type CircuitRecord, CircuitState, type CircuitStore, type TransitionOutcome } from '@fleet-breaker/core'
import { closeStoresFromEnvironment, createStoreFromEnvironment } from '@fleet-breaker/storage'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { type FaultProxy, type ReplyContext, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'
import { warmStore } from '../../../../test-support/warm-store.js'

/*
 * Writes whose answers are lost, delayed or reordered on the way back, against a real redis-server
 * behind a fault proxy. The server applies every command it receives; the proxy then drops the
 * connection instead of delivering the answer ("apply then drop"). ioredis re-sends the commands a
 * dropped connection left unanswered once it has reconnected, so the same script reaches the server
 * twice; node-redis fails them and leaves the retry to its caller. Either way no failure may count
 * twice, and the environment whose transition won must learn that it won.
 */

let server: RedisServer
let proxy: FaultProxy
const closers: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  server = await startRedisServer()
  proxy = await startFaultProxy({ target: { host: server.host, port: server.port }, protocol: 'resp' })
}, 30_000)

afterEach(async () => {
  proxy.passThrough()
  await Promise.all(closers.splice(0).map((close) => close()))
})

afterAll(async () => {
  await closeStoresFromEnvironment()
  await proxy?.stop()
  await server?.stop()
}, 30_000)

const LONG_WINDOW = 600_000

/** How many scripts the server has run (EVALSHA and EVAL), asked of it directly, not through the proxy. */
async function scriptsRun(): Promise<number> {
  const admin = new Redis(server.url)
  try {
    const stats = await admin.info('commandstats')
    return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    )
  } finally {
    admin.disconnect()
  }
}

/** Matches the answer to a store script (by SHA1, or its source the first time). */
function scriptAnswer({ request }: ReplyContext): boolean {
  const command = request?.command?.[0]
  return command === 'EVALSHA' || command === 'EVAL'
}

/** Matches the answer to one store operation, told apart by the op id among its arguments. */
function answerTo(opId: string): (context: ReplyContext) => boolean {
  return (context) => scriptAnswer(context) && (context.request?.command?.includes(opId) ?? false)
}

/**
 * An ioredis client through the proxy, set up as the package README recommends, with a command
 * timeout long enough that the re-sent command's answer, not the timeout, settles the call even on
 * a busy machine.
 */
function ioredisThroughProxy(): Redis {
  const client = new Redis(proxy.url, {
    connectTimeout: 5_000,
    commandTimeout: 10_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  })
  client.on('error', () => {})
  closers.push(() => client.disconnect())
  return client
}

async function nodeRedisThroughProxy() {
  const client = createClient({ url: proxy.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 20 } })
  client.on('error', () => {})
  await client.connect()
  closers.push(() => client.destroy())
  return client
}

/** A store per environment, all on the same circuits (one key prefix per test). */
function prefix(): string {
  return `lost-answers:${randomUUID()}:`
}

function failure(store: CircuitStore, opId: string, generation = 0): Promise<CircuitRecord> {
  return store.addFailure('payments', { opId, generation, now: Date.now(), windowMs: LONG_WINDOW })
}

function open(store: CircuitStore, opId: string): Promise<TransitionOutcome> {
  return store.transition('payments', {
    opId,
    from: { state: CircuitState.CLOSED, generation: 0 },
    guard: { minFailures: 1 },
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
    now: Date.now(),
  })
}

describe('ioredis re-sending commands whose answers were lost', () => {
  it('counts each failure once although the server ran it twice', async () => {
    const keyPrefix = prefix()
    const stores = [0, 1, 2].map(() => new RedisStore({ client: ioredisThroughProxy(), keyPrefix }))
    await Promise.all(stores.map(warmStore))
    const ops = stores.map(() => randomUUID())
    const scriptsBefore = await scriptsRun()
    const dropped = proxy.dropReplies({ times: 3, match: scriptAnswer })
    const answers = await Promise.all(stores.map((store, index) => failure(store, ops[index] ?? '')))
    expect(dropped.applied).toBe(3)
    // Three failures, six scripts run: each was sent again after its connection dropped.
    expect((await scriptsRun()) - scriptsBefore).toBe(6)
    // Every caller got an answer (from the command sent again) that holds its own failure.
    answers.forEach((answer, index) => {
      expect(answer.recentOps).toContain(ops[index])
    })
    const record = await stores[0]?.get('payments')
    expect(record).toMatchObject({ state: CircuitState.CLOSED, failures: 3 })
    expect(new Set(record?.recentOps)).toEqual(new Set(ops))
  })

  it('tells the environment whose transition won that it won, and the others that they lost', async () => {
    const keyPrefix = prefix()
    const stores = [0, 1, 2].map(() => new RedisStore({ client: ioredisThroughProxy(), keyPrefix }))
    await Promise.all(stores.map(warmStore))
    await failure(stores[0] as RedisStore, randomUUID())

    const ops = stores.map(() => randomUUID())
    const scriptsBefore = await scriptsRun()
    // Every answer to the transitions is lost once; ioredis sends each one again.
    const dropped = proxy.dropReplies({ times: 3, match: scriptAnswer })
    const outcomes = await Promise.all(stores.map((store, index) => open(store, ops[index] ?? '')))
    expect(dropped.applied).toBe(3)
    expect((await scriptsRun()) - scriptsBefore).toBe(6)
    const winners = outcomes.filter((outcome) => outcome.applied)
    expect(winners).toHaveLength(1)
    const winner = winners[0]?.record
    expect(winner).toMatchObject({ state: CircuitState.OPEN, generation: 1 })
    expect(ops).toContain(winner?.changedBy)
    // The losers see the winner's record, not a record of their own.
    for (const outcome of outcomes) expect(outcome.record.changedBy).toBe(winner?.changedBy)
    expect(await stores[1]?.get('payments')).toMatchObject({ generation: 1, changedBy: winner?.changedBy })
  })

  it('does the same with the client createStoreFromEnvironment() builds', async () => {
    const keyPrefix = prefix()
    const store = await createStoreFromEnvironment({
      env: {
        CIRCUIT_BREAKER_STORE: 'redis',
        CIRCUIT_BREAKER_REDIS_URL: proxy.url,
        CIRCUIT_BREAKER_KEY_PREFIX: keyPrefix,
      },
    })
    const rival = new RedisStore({ client: ioredisThroughProxy(), keyPrefix })
    await warmStore(store)
    await warmStore(rival)

    const failureOp = randomUUID()
    const droppedFailure = proxy.dropReplies({ times: 1, match: answerTo(failureOp) })
    // Its command timeout is short (500 ms): the call may time out before the command is sent again.
    const counted = await failure(store, failureOp).then(
      (record) => record,
      () => undefined,
    )
    await droppedFailure.whenApplied()
    if (counted !== undefined) expect(counted.recentOps).toContain(failureOp)
    await failure(rival, randomUUID())
    expect(await rival.get('payments')).toMatchObject({ failures: 2 })

    const winnerOp = randomUUID()
    const droppedTransition = proxy.dropReplies({ times: 1, match: answerTo(winnerOp) })
    const outcome = await open(store, winnerOp).catch((error: unknown) => error)
    await droppedTransition.whenApplied()
    expect(await open(rival, randomUUID())).toMatchObject({ applied: false, record: { changedBy: winnerOp } })
    if (outcome instanceof Error) {
      // Its answer never came: the next answer it gets for the circuit says who made the generation.
      const seen = await failure(store, randomUUID(), 0)
      expect(seen).toMatchObject({ state: CircuitState.OPEN, generation: 1, changedBy: winnerOp })
    } else {
      expect(outcome).toMatchObject({ applied: true, record: { changedBy: winnerOp } })
    }
    const final = await rival.get('payments')
    expect(final).toMatchObject({ state: CircuitState.OPEN, generation: 1, changedBy: winnerOp })
  })
})

describe('node-redis failing commands whose answers were lost', () => {
  it('counts a failure retried by its caller once, and answers a retried transition as applied', async () => {
    const keyPrefix = prefix()
    const store = new RedisStore({ client: await nodeRedisThroughProxy(), keyPrefix })
    const observer = new RedisStore({ client: await nodeRedisThroughProxy(), keyPrefix })
    await warmStore(store)

    const failureOp = randomUUID()
    proxy.dropReplies({ times: 1, match: answerTo(failureOp) })
    const lost = await failure(store, failureOp).then(
      (record) => ({ record }),
      (error: unknown) => ({ error }),
    )
    // The write reached the server whatever the caller was told.
    expect(await observer.get('payments')).toMatchObject({ failures: 1 })
    if ('record' in lost) expect(lost.record.recentOps).toContain(failureOp)
    // The caller (or a retrying layer above it) sends the same write again: it is not counted twice.
    expect(await failure(store, failureOp)).toMatchObject({ failures: 1, recentOps: [failureOp] })

    const winnerOp = randomUUID()
    proxy.dropReplies({ times: 1, match: answerTo(winnerOp) })
    await open(store, winnerOp).catch(() => undefined)
    expect(await open(observer, randomUUID())).toMatchObject({ applied: false })
    expect(await open(store, winnerOp)).toMatchObject({ applied: true, record: { changedBy: winnerOp } })
    expect(await observer.get('payments')).toMatchObject({ state: CircuitState.OPEN, generation: 1 })
  })
})

describe('answers that arrive late or out of order', () => {
  it('gives each racing environment the answer of its own request, whatever order they arrive in', async () => {
    const keyPrefix = prefix()
    const stores = [0, 1].map(() => new RedisStore({ client: ioredisThroughProxy(), keyPrefix }))
    await Promise.all(stores.map(warmStore))
    await failure(stores[0] as RedisStore, randomUUID())
    const [first, second] = [randomUUID(), randomUUID()]

    const hold = proxy.holdReplies({ match: scriptAnswer })
    const firstOutcome = open(stores[0] as RedisStore, first)
    await hold.untilPending(1)
    const secondOutcome = open(stores[1] as RedisStore, second)
    await hold.untilPending(2)
    // The loser's answer is delivered first, then the winner's.
    await hold.release([1])
    expect(await secondOutcome).toMatchObject({ applied: false, record: { changedBy: first } })
    await hold.release([0])
    expect(await firstOutcome).toMatchObject({ applied: true, record: { changedBy: first } })
    await hold.end()
  })

  it('lets an environment that stopped waiting learn later that its transition won', async () => {
    const keyPrefix = prefix()
    const store = new RedisStore({ client: ioredisThroughProxy(), keyPrefix })
    await warmStore(store)
    await failure(store, randomUUID())
    const opId = randomUUID()
    const hold = proxy.holdReplies({ match: answerTo(opId) })
    const controller = new AbortController()
    const pending = store.transition(
      'payments',
      {
        opId,
        from: { state: CircuitState.CLOSED, generation: 0 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
        now: Date.now(),
      },
      { signal: controller.signal },
    )
    await hold.untilPending(1)
    const deadline = new Error('store deadline')
    controller.abort(deadline)
    await expect(pending).rejects.toBe(deadline)
    await hold.end()
    // Its next write is aimed at the generation it knew; the answer shows the generation it made.
    expect(await failure(store, randomUUID())).toMatchObject({
      state: CircuitState.OPEN,
      generation: 1,
      changedBy: opId,
    })
  })
})

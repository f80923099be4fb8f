import { randomUUID } from 'node:crypto'
import { DeleteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { type CircuitRecord, CircuitState } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type FaultProxy, type ReplyContext, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { recordingLogger } from '../../../../test-support/logger.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * Writes whose answers are lost or falsified after DynamoDB applied them, through a fault proxy in
 * front of dynalite, with the real AWS SDK retrying them: a connection reset after the request was
 * processed ("apply then drop") and an HTTP 500 in place of the real answer ("apply then 500").
 * The store must recognise its own write in the retry's answer and change nothing a second time.
 */

const TABLE = 'retried-writes'
const TEST_TIMEOUT_MS = 30_000
let dynamo: LocalDynamoDB
let proxy: FaultProxy

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  const { port } = new URL(dynamo.endpoint)
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: Number(port) }, protocol: 'http' })
})

afterEach(() => {
  proxy.passThrough()
})

afterAll(async () => {
  await proxy.stop()
  await dynamo.stop()
})

/** A client through the proxy that retries as a Lambda function's would (up to 3 attempts). */
function proxiedClient(): DynamoDBClient {
  return dynamo.client({ endpoint: proxy.url, maxAttempts: 3 })
}

/** One execution environment: its own client and store, through the proxy. */
function environment(): DynamoDBStore {
  return new DynamoDBStore({ tableName: TABLE, client: proxiedClient(), logger: recordingLogger() })
}

/** A store straight on dynalite, for looking at what is stored. */
function observer(): DynamoDBStore {
  return new DynamoDBStore({ tableName: TABLE, client: dynamo.client() })
}

/** The DynamoDB operation a reply answers (`UpdateItem`, `GetItem`, ...). */
function operationOf(context: ReplyContext): string | undefined {
  return context.request?.http?.headers.get('x-amz-target')?.split('.')[1]
}

/** Matches the replies to requests that carry `opId` (every write names its op id in its values). */
function answersTo(opId: string, operation = 'UpdateItem') {
  return (context: ReplyContext) => operationOf(context) === operation && context.request?.text.includes(opId) === true
}

/** Counts the requests (first attempts and retries) carrying `opId` that reached DynamoDB. */
function countRequests(opId: string): () => number {
  let count = 0
  proxy.observe((context) => {
    if (answersTo(opId)(context)) count++
  })
  return () => count
}

function failures(record: CircuitRecord | undefined): number {
  expect(record?.state).toBe(CircuitState.CLOSED)
  return record?.state === CircuitState.CLOSED ? record.failures : -1
}

const faults = [
  {
    fault: 'apply then drop the connection',
    inject: (opId: string) => proxy.dropReplies({ times: 1, match: answersTo(opId) }),
  },
  { fault: 'apply then answer 500', inject: (opId: string) => proxy.answer500({ times: 1, match: answersTo(opId) }) },
]

async function openCircuit(store: DynamoDBStore, circuitId: string, retryInMs = 1): Promise<number> {
  const now = Date.now()
  await store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now, windowMs: 60_000 })
  const opened = await store.transition(circuitId, {
    opId: randomUUID(),
    from: { state: CircuitState.CLOSED, generation: 0 },
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs },
    now,
  })
  expect(opened.applied).toBe(true)
  return opened.record.generation
}

async function halfOpenCircuit(store: DynamoDBStore, circuitId: string, leaseMs = 30_000) {
  const generation = await openCircuit(store, circuitId)
  const token = randomUUID()
  const entered = await store.transition(circuitId, {
    opId: randomUUID(),
    from: { state: CircuitState.OPEN, generation },
    to: { state: CircuitState.HALF_OPEN, probe: { token, leaseMs } },
    now: Date.now() + 5,
  })
  expect(entered.applied).toBe(true)
  return { generation: entered.record.generation, token }
}

describe.each(faults)('a write whose answer is lost: $fault', ({ inject }) => {
  it(
    'counts a failure once, and answers with the failure counted',
    async () => {
      const store = environment()
      const circuitId = `retried-failure-${randomUUID()}`
      await store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 60_000 })
      const opId = randomUUID()
      const requests = countRequests(opId)
      const fault = inject(opId)
      const answer = await store.addFailure(circuitId, { opId, generation: 0, now: Date.now(), windowMs: 60_000 })
      expect(fault.applied).toBe(1)
      expect(requests()).toBe(2)
      expect(failures(answer)).toBe(2)
      expect(answer.recentOps).toContain(opId)
      expect(failures(await observer().get(circuitId))).toBe(2)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'counts every failure of a fleet once when every first answer is lost',
    async () => {
      const fleet = Array.from({ length: 10 }, () => environment())
      const circuitId = `retried-fleet-${randomUUID()}`
      const opIds = fleet.map(() => randomUUID())
      const injected = opIds.map((opId) => inject(opId))
      await Promise.all(
        fleet.map((store, index) =>
          store.addFailure(circuitId, {
            opId: opIds[index] as string,
            generation: 0,
            now: Date.now(),
            windowMs: 60_000,
          }),
        ),
      )
      expect(injected.map((fault) => fault.applied)).toEqual(opIds.map(() => 1))
      const stored = await observer().get(circuitId)
      expect(failures(stored)).toBe(10)
      expect([...(stored?.recentOps ?? [])].sort()).toEqual([...opIds].sort())
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'tells the one environment whose transition applied that it won, and no other',
    async () => {
      const fleet = Array.from({ length: 6 }, () => environment())
      const circuitId = `retried-transition-${randomUUID()}`
      await fleet[0]?.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 60_000 })
      const opIds = fleet.map(() => randomUUID())
      for (const opId of opIds) inject(opId)
      const outcomes = await Promise.all(
        fleet.map((store, index) =>
          store.transition(circuitId, {
            opId: opIds[index] as string,
            from: { state: CircuitState.CLOSED, generation: 0 },
            guard: { minFailures: 1 },
            to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
            now: Date.now(),
          }),
        ),
      )
      const winners = outcomes.flatMap((outcome, index) => (outcome.applied ? [opIds[index]] : []))
      expect(winners).toHaveLength(1)
      const stored = await observer().get(circuitId)
      expect(stored).toMatchObject({ state: CircuitState.OPEN, generation: 1, changedBy: winners[0] })
      for (const outcome of outcomes) expect(outcome.record).toMatchObject({ generation: 1, changedBy: winners[0] })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'answers a retried probe claim with its own lease and takes no second slot',
    async () => {
      const store = environment()
      const other = environment()
      const circuitId = `retried-probe-${randomUUID()}`
      const { generation, token: first } = await halfOpenCircuit(observer(), circuitId)
      await observer().completeProbe(circuitId, {
        opId: randomUUID(),
        generation,
        token: first,
        success: true,
        now: Date.now(),
      })
      const token = randomUUID()
      const fault = inject(token)
      const claim = { opId: token, generation, maxProbes: 2, token, leaseMs: 30_000, now: Date.now() }
      const outcome = await store.acquireProbe(circuitId, claim)
      expect(fault.applied).toBe(1)
      expect(outcome.lease).toMatchObject({ slot: 0, token })
      const stored = await observer().get(circuitId)
      expect(stored?.state === CircuitState.HALF_OPEN ? stored.probes.map((lease) => lease.token) : []).toEqual([token])
      // The one remaining slot goes to another probe; the lease is no orphan: its holder gives it back.
      const second = await other.acquireProbe(circuitId, { ...claim, opId: randomUUID(), token: randomUUID() })
      expect(second.lease?.slot).toBe(1)
      const done = await store.completeProbe(circuitId, {
        opId: randomUUID(),
        generation,
        token,
        success: true,
        now: Date.now(),
      })
      expect(done.state === CircuitState.HALF_OPEN ? done.probes.map((lease) => lease.slot) : []).toEqual([1])
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'counts a probe success once',
    async () => {
      const store = environment()
      const circuitId = `retried-completion-${randomUUID()}`
      const { generation, token } = await halfOpenCircuit(observer(), circuitId)
      const opId = randomUUID()
      const fault = inject(opId)
      const done = await store.completeProbe(circuitId, { opId, generation, token, success: true, now: Date.now() })
      expect(fault.applied).toBe(1)
      expect(done).toMatchObject({ state: CircuitState.HALF_OPEN, successes: 1, probes: [] })
      expect(await observer().get(circuitId)).toMatchObject({ successes: 1, probes: [] })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'starts one generation for an override',
    async () => {
      const store = environment()
      const circuitId = `retried-override-${randomUUID()}`
      const opId = randomUUID()
      const fault = inject(opId)
      const forced = await store.setForced(circuitId, {
        opId,
        forced: { state: CircuitState.OPEN, reason: 'drill' },
        now: Date.now(),
      })
      expect(fault.applied).toBe(1)
      expect(forced).toMatchObject({ generation: 1, changedBy: opId, incarnation: opId })
      expect(await observer().get(circuitId)).toMatchObject({ generation: 1, changedBy: opId })
    },
    TEST_TIMEOUT_MS,
  )
})

describe('answers that arrive late or out of order', () => {
  it(
    'gives a probe’s lease back although the store’s last view of the circuit is older than the lease',
    async () => {
      const store = environment()
      const circuitId = `stale-hint-${randomUUID()}`
      const { generation, token: first } = await halfOpenCircuit(observer(), circuitId)
      await observer().completeProbe(circuitId, {
        opId: randomUUID(),
        generation,
        token: first,
        success: false,
        now: Date.now(),
      })
      await store.get(circuitId)
      // A read goes out first; its answer (no lease yet) is held back until after the claim's.
      const hold = proxy.holdReplies({ match: (context) => operationOf(context) === 'GetItem' })
      const staleRead = store.get(circuitId)
      await hold.untilPending(1)
      const token = randomUUID()
      const claim = await store.acquireProbe(circuitId, {
        opId: token,
        generation,
        maxProbes: 1,
        token,
        leaseMs: 30_000,
        now: Date.now(),
      })
      expect(claim.lease?.token).toBe(token)
      await hold.end()
      expect(await staleRead).toMatchObject({ state: CircuitState.HALF_OPEN, probes: [] })
      // The probe ends without a verdict; the store's latest view shows no lease, yet it must not skip.
      const ended = await store.completeProbe(circuitId, {
        opId: randomUUID(),
        generation,
        token,
        success: false,
        now: Date.now(),
      })
      expect(ended).toMatchObject({ state: CircuitState.HALF_OPEN, probes: [] })
      expect(await observer().get(circuitId)).toMatchObject({ probes: [] })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'asks the service before refusing a probe on an old view of the circuit',
    async () => {
      const store = environment()
      const circuitId = `stale-open-${randomUUID()}`
      const generation = await openCircuit(observer(), circuitId)
      await store.get(circuitId) // the store's view: OPEN
      const entered = await observer().transition(circuitId, {
        opId: randomUUID(),
        from: { state: CircuitState.OPEN, generation },
        to: { state: CircuitState.HALF_OPEN, probe: { token: randomUUID(), leaseMs: 30_000 } },
        now: Date.now() + 5,
      })
      const token = randomUUID()
      const claim = await store.acquireProbe(circuitId, {
        opId: token,
        generation: entered.record.generation,
        maxProbes: 2,
        token,
        leaseMs: 30_000,
        now: Date.now(),
      })
      expect(claim.lease).toMatchObject({ slot: 1, token })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'answers each of two concurrent environments with the record its own write produced, whatever order the answers come in',
    async () => {
      const [first, second] = [environment(), environment()]
      const circuitId = `reordered-${randomUUID()}`
      await observer().addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 60_000 })
      const hold = proxy.holdReplies({ match: (context) => operationOf(context) === 'UpdateItem' })
      const firstOp = randomUUID()
      const firstAnswer = first?.addFailure(circuitId, {
        opId: firstOp,
        generation: 0,
        now: Date.now(),
        windowMs: 60_000,
      })
      await hold.untilPending(1)
      const secondOp = randomUUID()
      const secondAnswer = second?.addFailure(circuitId, {
        opId: secondOp,
        generation: 0,
        now: Date.now(),
        windowMs: 60_000,
      })
      await hold.untilPending(2)
      await hold.release([1])
      const secondRecord = await secondAnswer
      await hold.release([0])
      const firstRecord = await firstAnswer
      await hold.end()
      expect(failures(firstRecord)).toBe(2)
      expect(failures(secondRecord)).toBe(3)
      expect(secondRecord?.recentOps?.slice(-2)).toEqual([firstOp, secondOp])
      expect(failures(await observer().get(circuitId))).toBe(3)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'answers delayed past the SDK’s patience are retried and still counted once',
    async () => {
      const client = dynamo.client({
        endpoint: proxy.url,
        maxAttempts: 3,
        requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
      })
      const store = new DynamoDBStore({ tableName: TABLE, client })
      const circuitId = `delayed-${randomUUID()}`
      const opId = randomUUID()
      const delay = proxy.delayReplies(1_000, { times: 1, match: answersTo(opId) })
      const answer = await store.addFailure(circuitId, { opId, generation: 0, now: Date.now(), windowMs: 60_000 })
      expect(delay.applied).toBe(1)
      expect(failures(answer)).toBe(1)
      expect(failures(await observer().get(circuitId))).toBe(1)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('a record lost under a running fleet', () => {
  it(
    'keeps counting into a new record with a new incarnation, and fences writes meant for the old one',
    async () => {
      const circuitId = `lost-${randomUUID()}`
      const fleet = Array.from({ length: 8 }, () => environment())
      // The circuit has lived a while: opened and closed again, generation 2.
      const generation = await openCircuit(observer(), circuitId, 60_000)
      const closed = await observer().transition(circuitId, {
        opId: randomUUID(),
        from: { state: CircuitState.OPEN, generation },
        to: { state: CircuitState.CLOSED },
        now: Date.now(),
      })
      const oldIncarnation = closed.record.incarnation
      expect(oldIncarnation).not.toBe('')
      await dynamo.client().send(new DeleteItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
      // Every environment still believes generation 2; each counts three failures, learning the
      // generation from each answer, as a breaker does.
      const counted: string[] = []
      await Promise.all(
        fleet.map(async (store) => {
          let known = closed.record.generation
          for (let failure = 0; failure < 3; ) {
            const opId = randomUUID()
            const answer = await store.addFailure(circuitId, {
              opId,
              generation: known,
              now: Date.now(),
              windowMs: 60_000,
            })
            if (answer.recentOps?.includes(opId) === true) {
              counted.push(opId)
              failure++
            }
            known = answer.generation
          }
        }),
      )
      const stored = await observer().get(circuitId)
      expect(stored).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 24 })
      expect(stored?.incarnation).not.toBe(oldIncarnation)
      expect(counted).toContain(stored?.incarnation)
      // A write for the old record's generation changes nothing in the new one.
      const stale = await fleet[0]?.addFailure(circuitId, {
        opId: randomUUID(),
        generation: closed.record.generation,
        now: Date.now(),
        windowMs: 60_000,
      })
      expect(stale).toMatchObject({ generation: 0, failures: 24 })
    },
    TEST_TIMEOUT_MS,
  )
})

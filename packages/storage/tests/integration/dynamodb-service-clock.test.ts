import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { activeOverride, CircuitBreaker, CircuitState } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { CLOCK_AGREEMENT_MS, ServiceClock } from '../../src/dynamodb/service-clock.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * The DynamoDB store decides with the service's clock, learnt from the `Date` header of its answers.
 * Here the service is dynalite, whose clock is this machine's; the callers' clocks are skewed on
 * purpose, as an operator's laptop or a misconfigured host would be.
 */

const TABLE = 'service-clock'
const TEST_TIMEOUT_MS = 30_000
/**
 * How far a time set through a store that learnt the service's clock from its answers can be from
 * the service's time, given how long the calls took (`elapsedMs`, which bounds their round trips):
 * half the `Date` header's second plus half a round trip, taken whole here for margin.
 */
function clockBound(elapsedMs: number): number {
  return 1_000 + elapsedMs
}
let dynamo: LocalDynamoDB

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await dynamo.stop()
})

/** A clock `skewMs` off this machine's (positive: ahead). */
function skewedClock(skewMs: number): () => number {
  return () => Date.now() + skewMs
}

/** Counts the requests a client sends (each command once, retries not included). */
function counted(client: DynamoDBClient): () => number {
  let count = 0
  client.middlewareStack.add(
    (next) => async (args) => {
      count++
      return next(args)
    },
    { step: 'initialize', name: 'countRequests' },
  )
  return () => count
}

async function storedItem(circuitId: string) {
  const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
  return Item
}

describe('ServiceClock', () => {
  const date = (ms: number) => new Date(ms).toUTCString()
  const base = Date.UTC(2026, 11, 2, 12, 0, 0)

  it('bounds the offset by one answer: [Date - received, Date + 1 s - sent]', () => {
    let now = base - 120_000 + 300 // the caller is two minutes behind; the service is at base + 300
    const clock = new ServiceClock(() => now)
    clock.observe(now - 20, now, date(base + 300))
    expect(clock.bounds()).toEqual({ low: 120_000 - 300, high: 120_000 - 300 + 1_000 + 20 })
    now += 1
    expect(Math.abs((clock.offset() ?? 0) - 120_000)).toBeLessThanOrEqual(520)
  })

  it('narrows the interval as answers arrive at different phases of the service’s second', () => {
    let now = base - 120_000
    const clock = new ServiceClock(() => now)
    for (const phase of [5, 350, 620, 880, 995]) {
      const service = base + 10_000 + phase
      now = service - 120_000
      clock.observe(now - 10, now, date(service))
    }
    const bounds = clock.bounds()
    expect(bounds).toBeDefined()
    expect((bounds?.high ?? 0) - (bounds?.low ?? 0)).toBeLessThanOrEqual(30)
    expect(Math.abs((clock.offset() ?? 0) - 120_000)).toBeLessThanOrEqual(15)
  })

  it('leaves a clock alone that the answers cannot show to be off by more than the agreement margin', () => {
    let now = base + 300 // 300 ms ahead of the service
    const clock = new ServiceClock(() => now)
    for (const phase of [0, 400, 800]) {
      now = base + 300 + phase
      clock.observe(now - 5, now, date(base + phase))
    }
    // The answers show the caller ahead (the interval excludes 0), but by less than the margin.
    expect(clock.bounds()?.high).toBeLessThan(0)
    expect(CLOCK_AGREEMENT_MS).toBeGreaterThan(300)
    expect(clock.offset()).toBe(0)
  })

  it('follows a clock that was stepped: the newest answers win over older ones they contradict', () => {
    let now = base
    const clock = new ServiceClock(() => now)
    clock.observe(now - 5, now, date(base))
    now = base + 1_000 + 60_000 // stepped a minute ahead
    clock.observe(now - 5, now, date(base + 1_000))
    expect(Math.abs((clock.offset() ?? 0) + 60_000)).toBeLessThanOrEqual(1_000)
  })

  it('forgets answers after ten minutes, and knows nothing before the first', () => {
    let now = base - 120_000
    const clock = new ServiceClock(() => now)
    expect(clock.offset()).toBeUndefined()
    clock.observe(now - 5, now, date(base))
    expect(clock.offset()).toBeDefined()
    now += 10 * 60_000 + 1
    expect(clock.offset()).toBeUndefined()
  })

  it('ignores a Date it cannot read and an answer received before it was sent', () => {
    const clock = new ServiceClock(() => base)
    clock.observe(base, base, 'not a date')
    clock.observe(base, base - 10, date(base))
    expect(clock.offset()).toBeUndefined()
  })
})

describe('DynamoDBStore on a caller whose clock is off', () => {
  it(
    'gives an override set from a clock two minutes behind its full duration in service time',
    async () => {
      const operatorNow = skewedClock(-120_000)
      const client = dynamo.client()
      const requests = counted(client)
      const store = new DynamoDBStore({ tableName: TABLE, client, now: operatorNow })
      const circuitId = `operator-${randomUUID()}`
      const before = Date.now()
      const requestNow = operatorNow()
      const forced = await store.setForced(circuitId, {
        opId: randomUUID(),
        forced: { state: CircuitState.OPEN, reason: 'maintenance', durationMs: 60_000 },
        now: requestNow,
      })
      const bound = clockBound(Date.now() - before)
      // One read to learn the service's time (there was no answer yet), then the write.
      expect(requests()).toBe(2)
      // Stored in the service's time (this machine's, here): a minute from when it was set.
      const until = Number((await storedItem(circuitId))?.forcedUntil?.N)
      expect(Math.abs(until - (before + 60_000))).toBeLessThanOrEqual(bound)
      // The operator's answer is in the operator's clock: a minute from the `now` it gave.
      expect(forced.forced?.until).toBe(requestNow + 60_000)
      // An environment with a good clock sees the override in force for the minute, not already over.
      const fleetView = await new DynamoDBStore({ tableName: TABLE, client: dynamo.client() }).get(circuitId)
      expect(fleetView && activeOverride(fleetView, Date.now())?.state).toBe(CircuitState.OPEN)
      expect(fleetView && activeOverride(fleetView, before + 60_000 - bound - 1)?.state).toBe(CircuitState.OPEN)
      expect(fleetView && activeOverride(fleetView, before + 60_000 + bound + 1)).toBeUndefined()
      // Later writes cost what they always did: the estimate is known now.
      await store.setForced(circuitId, { opId: randomUUID(), now: operatorNow() })
      expect(requests()).toBe(3)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'does the same through a breaker’s forceOpen',
    async () => {
      const operatorNow = skewedClock(-120_000)
      const circuitId = `operator-breaker-${randomUUID()}`
      const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), now: operatorNow })
      const operator = new CircuitBreaker({
        circuitId,
        store,
        now: operatorNow,
        storeTimeoutMs: 10_000,
        logger: silentLogger,
      })
      const before = Date.now()
      await operator.forceOpen({ reason: 'maintenance', durationMs: 60_000 })
      const elapsed = Date.now() - before
      const until = Number((await storedItem(circuitId))?.forcedUntil?.N)
      expect(until).toBeGreaterThanOrEqual(before + 60_000 - clockBound(elapsed))
      expect(until).toBeLessThanOrEqual(before + elapsed + 60_000 + clockBound(elapsed))
      const environment = new CircuitBreaker({
        circuitId,
        store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client() }),
        cacheTtlMs: 0,
        storeTimeoutMs: 10_000,
        logger: silentLogger,
      })
      expect((await environment.getState()).state).toBe(CircuitState.OPEN)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'keeps an environment five seconds ahead from taking the slot of a probe whose lease is live',
    async () => {
      const circuitId = `ahead-${randomUUID()}`
      const onTime = new DynamoDBStore({ tableName: TABLE, client: dynamo.client() })
      const aheadNow = skewedClock(5_000)
      const aheadClient = dynamo.client()
      const requests = counted(aheadClient)
      const ahead = new DynamoDBStore({ tableName: TABLE, client: aheadClient, now: aheadNow })
      await onTime.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 60_000 })
      const opened = await onTime.transition(circuitId, {
        opId: randomUUID(),
        from: { state: CircuitState.CLOSED, generation: 0 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 1 },
        now: Date.now(),
      })
      await sleep(5)
      // The probe's lease lasts 4.5 s of service time: the environment 5 s ahead would think it lapsed.
      const before = Date.now()
      const token = randomUUID()
      const probing = await onTime.transition(circuitId, {
        opId: randomUUID(),
        from: { state: CircuitState.OPEN, generation: opened.record.generation },
        guard: { retryDue: true },
        to: { state: CircuitState.HALF_OPEN, probe: { token, leaseMs: 4_500 } },
        now: Date.now(),
      })
      expect(probing.applied).toBe(true)
      const claim = await ahead.acquireProbe(circuitId, {
        opId: randomUUID(),
        generation: probing.record.generation,
        maxProbes: 1,
        token: randomUUID(),
        leaseMs: 4_500,
        now: aheadNow(),
      })
      const elapsed = Date.now() - before
      expect(claim.lease).toBeUndefined()
      // Its answer is in its own clock, where the lease is still live (in the service's time it
      // ends before that environment's "now").
      const lease = claim.record.state === CircuitState.HALF_OPEN ? claim.record.probes[0] : undefined
      expect(lease?.token).toBe(token)
      expect(lease?.expiresAt ?? 0).toBeGreaterThan(aheadNow())
      expect(lease?.expiresAt ?? 0).toBeLessThanOrEqual(aheadNow() + 4_500 + clockBound(elapsed))
      // One consistent read learnt the service's time and showed the slot taken: no write at all.
      expect(requests()).toBe(1)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'lets only one of two breakers probe when one of them runs five seconds ahead',
    async () => {
      const circuitId = `two-probes-${randomUUID()}`
      const options = {
        circuitId,
        failureThreshold: 1,
        resetTimeoutMs: 200,
        probeLeaseMs: 4_500,
        halfOpenMaxProbes: 1,
        cacheTtlMs: 0,
        storeTimeoutMs: 10_000,
        logger: silentLogger,
      }
      const onTime = new CircuitBreaker({
        ...options,
        store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client() }),
      })
      const aheadNow = skewedClock(5_000)
      const ahead = new CircuitBreaker({
        ...options,
        now: aheadNow,
        store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), now: aheadNow }),
      })
      await ahead.getState()
      await onTime
        .execute(async () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 })))
        .catch(() => {})
      await sleep(250)
      const onTimeProbe = await onTime.admit()
      expect(onTimeProbe.admitted && onTimeProbe.permit.isProbe).toBe(true)
      const aheadAdmission = await ahead.admit()
      expect(aheadAdmission.admitted && aheadAdmission.permit.isProbe).toBe(false)
      if (onTimeProbe.admitted) await onTimeProbe.permit.recordResult('ok')
      if (aheadAdmission.admitted) await aheadAdmission.permit.recordResult('ok')
    },
    TEST_TIMEOUT_MS,
  )
})

import { CircuitBreaker, isInvalidPermitError, MemoryStore } from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { checkCircuitTask, isInvalidTaskInputError, recordOutcomeTask } from '@fleet-breaker/lambda'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { environmentStores } from '../../../storage/tests/support/environment-stores.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
/** Circuit ids of this run: the Redis server keeps records between runs. */
const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

describe.each(environmentStores('lambda-permit-replay', beforeAll, afterAll))(
  'a carried permit attacked on $name',
  (backend) => {
    function tasks(circuitId: string, failureThreshold = 3) {
      const breakerOptions = { failureThreshold, cacheTtlMs: 0, resetTimeoutMs: 60_000, logger: silent }
      const check = checkCircuitTask({ store: backend.environmentStore(), breakerOptions })
      // The record task in two environments: Step Functions may retry it on another one.
      const record = recordOutcomeTask({ store: backend.environmentStore(), breakerOptions })
      const recordElsewhere = recordOutcomeTask({ store: backend.environmentStore(), breakerOptions })
      const observer = new CircuitBreaker({ circuitId, store: backend.environmentStore(), ...breakerOptions })
      return { check, record, recordElsewhere, observer }
    }

    it('a retried record task counts a closed circuit failure once, so replays never open it', async () => {
      const circuitId = `replayed-failure-${backend.name}-${run}`
      const { check, record, recordElsewhere, observer } = tasks(circuitId)
      const admitted = await check({ circuitId })
      expect(admitted).toMatchObject({ allowed: true, permit: { mode: 'counted' } })
      const input = JSON.parse(JSON.stringify({ circuitId, permit: admitted.permit, outcome: 'failure' })) as unknown
      // The task recorded, then its answer was lost (a timeout): Step Functions retries it, twice.
      await record(input)
      await record(input)
      await recordElsewhere(input)
      const snapshot = await observer.getState()
      expect(snapshot).toMatchObject({ state: 'CLOSED', failures: 1 })
    })

    it('distinct executions still count one failure each', async () => {
      const circuitId = `distinct-failures-${backend.name}-${run}`
      const { check, record, observer } = tasks(circuitId)
      for (let i = 0; i < 3; i++) {
        const admitted = await check({ circuitId })
        await record({ circuitId, permit: admitted.permit, outcome: 'failure' })
      }
      expect((await observer.getState()).state).toBe('OPEN')
    })

    it('a forged or tampered permit is a typed error, never a count', async () => {
      const circuitId = `forged-${backend.name}-${run}`
      const { check, record, observer } = tasks(circuitId, 1)
      const admitted = await check({ circuitId })
      const permit = admitted.permit as unknown as Record<string, unknown>
      const attempts: unknown[] = [
        { ...permit, circuitId: 'another-circuit' },
        { ...permit, mode: 'probe' },
        { ...permit, generation: -1 },
        { ...permit, generation: '0' },
        { ...permit, version: 2 },
        { ...permit, settleId: 'two words' },
        { ...permit, settleId: 7 },
        { ...permit, token: 'x'.repeat(1_000_000) },
        JSON.parse(`{"__proto__": {"mode": "probe"}, "version": 1, "circuitId": ${JSON.stringify(circuitId)}}`),
        JSON.parse(`{"__proto__": ${JSON.stringify(permit)}}`),
        [permit],
        'permit',
      ]
      for (const forged of attempts) {
        const error = await record({ circuitId, permit: forged, outcome: 'failure' }).then(
          () => undefined,
          (thrown: unknown) => thrown,
        )
        expect({ forged: typeof forged, typed: isInvalidPermitError(error) }).toEqual({
          forged: typeof forged,
          typed: true,
        })
        expect((error as Error).name).toBe('InvalidPermitError')
        expect((error as Error).message.length).toBeLessThan(500)
      }
      expect(({} as Record<string, unknown>).mode).toBeUndefined()
      expect(await observer.getState()).toMatchObject({ state: 'CLOSED', failures: 0 })
    })

    it('an outcome other than success or failure is a typed input error, never a count', async () => {
      const circuitId = `bad-outcome-${backend.name}-${run}`
      const { check, record, observer } = tasks(circuitId, 1)
      const admitted = await check({ circuitId })
      for (const outcome of ['FAILURE', 'timeout', '', null, 0, { toString: () => 'failure' }]) {
        const error = await record({ circuitId, permit: admitted.permit, outcome }).catch((thrown: unknown) => thrown)
        expect(isInvalidTaskInputError(error)).toBe(true)
        expect((error as Error).name).toBe('InvalidTaskInputError')
      }
      expect(await observer.getState()).toMatchObject({ state: 'CLOSED', failures: 0 })
    })

    it('a permit of an older generation changes nothing after the circuit reset', async () => {
      const circuitId = `stale-generation-${backend.name}-${run}`
      const { check, record, observer } = tasks(circuitId, 1)
      const admitted = await check({ circuitId })
      await observer.reset({ reason: 'test' })
      const recorded = await record({ circuitId, permit: admitted.permit, outcome: 'failure' })
      expect(recorded.recorded).toBe(false)
      expect(await observer.getState()).toMatchObject({ state: 'CLOSED', failures: 0 })
    })
  },
)

describe('a carried probe permit whose lease lapsed', () => {
  it('decides nothing once another execution holds the probe', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const breakerOptions = {
      failureThreshold: 1,
      resetTimeoutMs: 10_000,
      probeLeaseMs: 30_000,
      cacheTtlMs: 0,
      now: clock.now,
      logger: silent,
    }
    const check = checkCircuitTask({ store, breakerOptions })
    const record = recordOutcomeTask({ store, breakerOptions })
    const observer = new CircuitBreaker({ circuitId: 'payments', store, ...breakerOptions })
    await observer.execute(() => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))).catch(() => 0)
    clock.advance(10_000)
    const slow = await check({ circuitId: 'payments' })
    expect(slow.permit?.mode).toBe('probe')
    // The protected task outlived the lease: another execution is now the probe.
    clock.advance(30_000)
    const current = await check({ circuitId: 'payments' })
    expect(current.permit?.mode).toBe('probe')
    const stale = await record({ circuitId: 'payments', permit: slow.permit, outcome: 'failure' })
    expect(stale.recorded).toBe(false)
    expect(await observer.getState()).toMatchObject({ state: 'HALF_OPEN', probesInFlight: 1 })
    // The current probe still decides.
    expect(await record({ circuitId: 'payments', permit: current.permit, outcome: 'success' })).toMatchObject({
      recorded: true,
    })
    expect((await observer.getState()).state).toBe('CLOSED')
    // And the stale one, settled again afterwards, changes nothing.
    await record({ circuitId: 'payments', permit: slow.permit, outcome: 'failure' })
    expect(await observer.getState()).toMatchObject({ state: 'CLOSED', failures: 0 })
  })
})

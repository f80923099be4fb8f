import { CircuitBreaker } from '@fleet-breaker/core'
import { checkCircuitTask, recordOutcomeTask } from '@fleet-breaker/lambda'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { environmentStores } from '../../../storage/tests/support/environment-stores.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
/** Circuit ids of this run: the Redis server keeps records between runs. */
const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

describe.each(environmentStores('lambda-step-functions', beforeAll, afterAll))(
  'a permit carried between two environments on $name',
  (backend) => {
    /** Check and record tasks in two environments: each its own store client and breaker instances. */
    function twoEnvironments(circuitId: string) {
      // A store call cut short by a busy machine would leave the opening to the local breaker alone,
      // and the other environment would find the circuit closed: these tests are about the permit.
      const breakerOptions = { resetTimeoutMs: 300, probeLeaseMs: 60_000, storeTimeoutMs: 10_000, logger: silent }
      const checkEnv = checkCircuitTask({ store: backend.environmentStore(), breakerOptions })
      const recordEnv = recordOutcomeTask({ store: backend.environmentStore(), breakerOptions })
      const fleet = new CircuitBreaker({
        circuitId,
        store: backend.environmentStore(),
        ...breakerOptions,
        failureThreshold: 1,
        cacheTtlMs: 0,
      })
      return { checkEnv, recordEnv, fleet }
    }

    async function openAndAwaitRetry(fleet: CircuitBreaker): Promise<void> {
      await fleet
        .execute(() => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 })))
        .catch(() => undefined)
      expect((await fleet.getState()).state).toBe('OPEN')
      await until(async () => (await fleet.getState()).retryAfterMs === 0)
    }

    it('the probe admitted in one environment is settled in the other: success closes the circuit', async () => {
      const circuitId = `carried-success-${backend.name}-${run}`
      const { checkEnv, recordEnv, fleet } = twoEnvironments(circuitId)
      await openAndAwaitRetry(fleet)
      const check = await checkEnv({ circuitId })
      expect(check).toMatchObject({ allowed: true, state: 'HALF_OPEN', permit: { mode: 'probe' } })
      // While the carried probe holds its lease, no second execution is let through.
      expect(await checkEnv({ circuitId })).toMatchObject({ allowed: false, reason: 'probes-busy' })
      const carried = JSON.parse(JSON.stringify(check.permit)) as unknown
      expect(await recordEnv({ circuitId, permit: carried, outcome: 'success' })).toMatchObject({
        recorded: true,
        probe: true,
      })
      expect((await fleet.getState()).state).toBe('CLOSED')
      // Settling it again (a retried record task) changes nothing.
      expect(await recordEnv({ circuitId, permit: carried, outcome: 'failure' })).toMatchObject({ recorded: false })
      expect((await fleet.getState()).state).toBe('CLOSED')
    })

    it('the probe admitted in one environment fails in the other: the circuit reopens with the backoff', async () => {
      const circuitId = `carried-failure-${backend.name}-${run}`
      const { checkEnv, recordEnv, fleet } = twoEnvironments(circuitId)
      await openAndAwaitRetry(fleet)
      const check = await checkEnv({ circuitId })
      expect(check.permit?.mode).toBe('probe')
      await recordEnv({ circuitId, permit: check.permit, outcome: 'failure', error: { Error: 'PaymentFailed' } })
      expect(await fleet.getState()).toMatchObject({ state: 'OPEN', openCount: 2, probesInFlight: 0 })
    })
  },
)

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error('the condition did not come true in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, type CircuitStore, isCircuitOpenError } from '@fleet-breaker/core'
import { type HealthCheckTarget, healthCheckHandler } from '@fleet-breaker/lambda'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type HttpDownstream, startHttpDownstream } from '../../../../test-support/http-downstream.js'
import { environmentStores } from '../../../storage/tests/support/environment-stores.js'

/** Circuit ids of this run: the Redis server keeps records between runs. */
const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
const silent = { debug() {}, info() {}, warn() {}, error() {} }
/** A Lambda invocation with plenty of time left. */
const invocation = { getRemainingTimeInMillis: () => 60_000 }

/** The fleet's options for a health-checked circuit: live calls never probe. */
const fleetOptions = {
  failureThreshold: 2,
  resetTimeoutMs: 200,
  liveProbes: false,
  healthCheckIntervalMs: 60_000,
  cacheTtlMs: 0,
  logger: silent,
} as const

describe.each(environmentStores('lambda-health-check', beforeAll, afterAll))(
  'the health checker on $name',
  (backend) => {
    let downstream: HttpDownstream
    beforeAll(async () => {
      downstream = await startHttpDownstream()
    })
    afterAll(async () => {
      await downstream.stop()
    })

    /** `count` environments, each with its own store client and breaker of `circuitId`. */
    function environments(circuitId: string, count: number, extra: Record<string, unknown> = {}): CircuitBreaker[] {
      return Array.from(
        { length: count },
        () => new CircuitBreaker({ circuitId, store: backend.environmentStore(), ...fleetOptions, ...extra }),
      )
    }

    /** One round of live traffic: every environment calls the downstream's `/live` once. */
    async function liveRound(
      fleet: readonly CircuitBreaker[],
    ): Promise<{ ok: number; rejected: number; failed: number }> {
      const tally = { ok: 0, rejected: 0, failed: 0 }
      await Promise.all(
        fleet.map(async (breaker) => {
          try {
            await breaker.execute(async (signal) => {
              const response = await fetch(`${downstream.url}/live`, { signal })
              await response.body?.cancel()
              if (response.status >= 500)
                throw Object.assign(new Error('downstream failed'), { statusCode: response.status })
            })
            tally.ok++
          } catch (error) {
            if (isCircuitOpenError(error)) tally.rejected++
            else tally.failed++
          }
        }),
      )
      return tally
    }

    function checker(store: CircuitStore, target: HealthCheckTarget, extra: Record<string, unknown> = {}) {
      return healthCheckHandler({
        store,
        targets: [target],
        breakerOptions: { ...fleetOptions, ...extra },
        logger: silent,
      })
    }

    const liveRequests = () => downstream.requests.get('/live') ?? 0

    it('closes the circuit while live calls, across the fleet, never probe', async () => {
      const circuitId = `checked-${backend.name}-${run}`
      // Long enough a backoff that the checker's second run surely comes before the retry time.
      const resetTimeoutMs = 1_000
      const fleet = environments(circuitId, 4, { resetTimeoutMs })
      const target = { circuitId, check: { url: `${downstream.url}/health`, timeoutMs: 2_000 } }
      const check = checker(backend.environmentStore(), target, { resetTimeoutMs })
      downstream.status = 503
      while ((await fleet[0]?.getState())?.state !== 'OPEN') await liveRound(fleet)
      const liveWhenOpened = liveRequests()

      // Due for a retry, the circuit waits for the checker: live traffic is rejected and never reaches the downstream.
      await sleep(resetTimeoutMs + 50)
      for (let round = 0; round < 3; round++) expect((await liveRound(fleet)).rejected).toBe(fleet.length)
      expect(liveRequests()).toBe(liveWhenOpened)

      // The checker probes a failing downstream: the circuit reopens with the backoff.
      const failed = await check({}, invocation)
      expect(failed.results).toMatchObject([{ circuitId, outcome: 'reopened', state: 'OPEN' }])
      expect(await fleet[1]?.getState()).toMatchObject({ state: 'OPEN', openCount: 2 })

      // Not due yet: the checker leaves the retry time alone.
      const early = await check({}, invocation)
      expect(early.results).toMatchObject([{ outcome: 'skipped', reason: 'not-due', state: 'OPEN' }])

      downstream.status = 200
      await sleep(2 * resetTimeoutMs + 50)
      expect((await liveRound(fleet)).rejected).toBe(fleet.length)
      const recovered = await check({}, invocation)
      expect(recovered.results).toMatchObject([{ circuitId, outcome: 'closed', state: 'CLOSED' }])
      expect(recovered.outcomes).toEqual({ closed: 1 })
      expect(liveRequests()).toBe(liveWhenOpened)

      expect(await liveRound(fleet)).toEqual({ ok: fleet.length, rejected: 0, failed: 0 })
    }, 60_000)

    it('sends exactly one probe at a time, whatever the number of checkers and live traffic', async () => {
      const circuitId = `one-probe-${backend.name}-${run}`
      const fleet = environments(circuitId, 3)
      downstream.status = 503
      while ((await fleet[0]?.getState())?.state !== 'OPEN') await liveRound(fleet)
      downstream.status = 200
      let inFlight = 0
      let mostAtOnce = 0
      let checks = 0
      const target: HealthCheckTarget = {
        circuitId,
        check: async (signal) => {
          checks++
          inFlight++
          mostAtOnce = Math.max(mostAtOnce, inFlight)
          await sleep(150, undefined, { signal }).finally(() => {
            inFlight--
          })
          return true
        },
      }
      const checkers = Array.from({ length: 4 }, () => checker(backend.environmentStore(), target))
      await sleep(fleetOptions.resetTimeoutMs + 50)
      const [summaries] = await Promise.all([
        Promise.all(checkers.map((run) => run({}, invocation))),
        liveRound(fleet),
        liveRound(fleet),
      ])
      const outcomes = summaries.flatMap((summary) => summary.results.map((result) => result.outcome))
      expect(outcomes.filter((outcome) => outcome === 'closed')).toHaveLength(1)
      expect(outcomes.filter((outcome) => outcome !== 'closed').every((outcome) => outcome === 'skipped')).toBe(true)
      expect(checks).toBe(1)
      expect(mostAtOnce).toBe(1)
      expect((await fleet[2]?.getState())?.state).toBe('CLOSED')
    }, 60_000)

    it('leaves no lease behind when a check overruns the invocation', async () => {
      const circuitId = `overrun-${backend.name}-${run}`
      const [fleet] = environments(circuitId, 1)
      if (fleet === undefined) throw new Error('no environment')
      downstream.status = 503
      while ((await fleet.getState()).state !== 'OPEN') await liveRound([fleet])
      await sleep(fleetOptions.resetTimeoutMs + 50)
      const store = backend.environmentStore()
      // A check that ignores its signal and never ends, in an invocation with 2.6 s left and a 2 s margin.
      const hanging = checker(store, { circuitId, check: () => new Promise(() => {}) })
      const started = Date.now()
      const summary = await hanging({}, { getRemainingTimeInMillis: () => 2_600 })
      expect(Date.now() - started).toBeLessThan(2_600)
      expect(summary.results).toMatchObject([{ outcome: 'cut-short' }])
      const record = await store.get(circuitId)
      expect(record?.state).toBe('HALF_OPEN')
      expect(record?.state === 'HALF_OPEN' ? record.probes : undefined).toEqual([])
      // The next run is the probe at once: nothing waits for a lapsed lease.
      downstream.status = 200
      const next = await checker(store, { circuitId, check: { url: `${downstream.url}/health` } })({}, invocation)
      expect(next.results).toMatchObject([{ outcome: 'closed' }])
    }, 60_000)

    it("takes a lease that lapses soon after the check's own end, should the environment be stopped", async () => {
      const circuitId = `lease-${backend.name}-${run}`
      const [fleet] = environments(circuitId, 1)
      if (fleet === undefined) throw new Error('no environment')
      downstream.status = 503
      while ((await fleet.getState()).state !== 'OPEN') await liveRound([fleet])
      await sleep(fleetOptions.resetTimeoutMs + 50)
      const store = backend.environmentStore()
      let leaseLeftMs: number | undefined
      const inspecting = checker(store, {
        circuitId,
        check: async () => {
          const record = await store.get(circuitId)
          const [lease] = record?.state === 'HALF_OPEN' ? record.probes : []
          leaseLeftMs = lease === undefined ? undefined : lease.expiresAt - Date.now()
          return true
        },
      })
      expect((await inspecting({}, invocation)).results).toMatchObject([{ outcome: 'closed' }])
      // The check's timeout (5 s by default), three store timeouts (500 ms each) and a second.
      expect(leaseLeftMs).toBeGreaterThan(0)
      expect(leaseLeftMs).toBeLessThanOrEqual(5_000 + 3 * 500 + 1_000)
    }, 60_000)

    it('lets live probes resume when the checker has missed its runs', async () => {
      const circuitId = `missed-${backend.name}-${run}`
      // The checker runs every 2.5 s, in theory; after 2 missed runs past the retry time, live calls
      // probe. (A grace of seconds, so a loaded machine's stall cannot end it before the first round.)
      const fleet = environments(circuitId, 2, { healthCheckIntervalMs: 2_500, missedChecks: 2 })
      downstream.status = 503
      while ((await fleet[0]?.getState())?.state !== 'OPEN') await liveRound(fleet)
      downstream.status = 200
      const liveWhenOpened = liveRequests()
      await sleep(fleetOptions.resetTimeoutMs + 20)
      expect((await liveRound(fleet)).rejected).toBe(fleet.length)
      expect(liveRequests()).toBe(liveWhenOpened)
      await until(async () => (await liveRound(fleet)).ok > 0)
      expect((await fleet[0]?.getState())?.state).toBe('CLOSED')
      // Live calls reach the downstream again: the first of them was the probe that closed the circuit.
      expect(liveRequests()).toBeGreaterThan(liveWhenOpened)
    }, 60_000)

    it('opens a closed circuit after openAfter failed checks in a row', async () => {
      const circuitId = `open-after-${backend.name}-${run}`
      const [fleet] = environments(circuitId, 1, { failureThreshold: 50 })
      const check = checker(backend.environmentStore(), {
        circuitId,
        check: { url: `${downstream.url}/health`, timeoutMs: 2_000 },
        openAfter: 2,
      })
      downstream.status = 200
      expect((await check({}, invocation)).results).toMatchObject([{ outcome: 'healthy', state: 'CLOSED' }])
      downstream.status = 503
      expect((await check({}, invocation)).results).toMatchObject([{ outcome: 'failing', state: 'CLOSED' }])
      expect((await check({}, invocation)).results).toMatchObject([{ outcome: 'opened', state: 'OPEN' }])
      expect((await fleet?.getState())?.state).toBe('OPEN')
    }, 60_000)
  },
)

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error('the condition did not come true in time')
    await sleep(25)
  }
}

import { randomUUID } from 'node:crypto'
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  CircuitState,
  isCircuitOpenError,
  isInvalidConfigurationError,
  MemoryStore,
  RejectionReason,
  resolveOptions,
  type StateChange,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { fails, recordingLogger, rejectionOf, ServiceUnavailable } from './support.js'

type Options = Omit<CircuitBreakerOptions<never>, 'store' | 'now' | 'environmentId'>

/** `size` environments, each with its own breaker, store connection and environment id, on one clock. */
function environments(size: number, options: Options) {
  const clock = new ManualClock()
  const shared = new MemoryStore()
  const changes: StateChange[] = []
  const logger = recordingLogger()
  const members = Array.from({ length: size }, (_, index) => {
    const store = new InstrumentedStore(shared)
    const breaker = new CircuitBreaker({
      circuitId: 'payment-api',
      logger,
      ...options,
      store,
      now: clock.now,
      environmentId: `environment-${index}`,
    })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return { store, breaker }
  })
  const reader = new CircuitBreaker({ circuitId: 'payment-api', store: shared, now: clock.now, logger })
  const opened = () => changes.filter((change) => change.origin === 'local' && change.to === CircuitState.OPEN)
  return { clock, members, reader, opened }
}

/** Each environment in turn makes one call; the `n`-th call of the round fails when `fails(n)`. */
async function rounds(
  fleet: ReturnType<typeof environments>,
  count: number,
  fails: (call: number) => boolean,
  stepMs = 10,
): Promise<number> {
  let downstreamCalls = 0
  let call = 0
  for (let round = 0; round < count; round++) {
    for (const { breaker } of fleet.members) {
      const failing = fails(call++)
      await breaker
        .execute(async () => {
          downstreamCalls++
          if (failing) throw new ServiceUnavailable()
          return 'ok'
        })
        .catch(() => undefined)
      fleet.clock.advance(stepMs)
    }
  }
  return downstreamCalls
}

describe('the failure-rate mode', () => {
  const rate: Options = { failureRateThreshold: 0.5, minimumCalls: 20, rateWindowMs: 60_000 }

  it('does not open on 5 % background errors', async () => {
    const fleet = environments(10, rate)
    await rounds(fleet, 40, (call) => call % 20 === 0)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.CLOSED)
    expect(fleet.opened()).toHaveLength(0)
  })

  it('opens once for the fleet on 60 % errors, after the minimum volume', async () => {
    const fleet = environments(10, rate)
    await rounds(fleet, 20, (call) => call % 5 < 3)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.OPEN)
    expect(fleet.opened()).toHaveLength(1)
    const { record } = fleet.opened()[0] as StateChange
    expect(record.state).toBe(CircuitState.OPEN)
  })

  it('does not open below minimumCalls, whatever the rate', async () => {
    const fleet = environments(2, { ...rate, minimumCalls: 100 })
    await rounds(fleet, 20, () => true)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('costs at most one write per environment per flush interval while healthy, and none when idle', async () => {
    const fleet = environments(5, { ...rate, rateFlushIntervalMs: 1_000 })
    await rounds(fleet, 100, () => false, 4) // 100 calls each over two seconds
    for (const { store } of fleet.members) {
      expect(store.writes).toBeLessThanOrEqual(3)
      store.resetCounts()
    }
    fleet.clock.advance(60_000) // idle
    for (const { store } of fleet.members) expect(store.writes).toBe(0)
    // The store has every call but those of each environment's last interval, still gathered.
    const snapshot = await fleet.reader.getState()
    const stored = snapshot.record.state === CircuitState.CLOSED ? (snapshot.record.calls ?? 0) : 0
    expect(stored).toBeGreaterThanOrEqual(500 - 5 * 50)
    expect(stored).toBeLessThanOrEqual(500)
  })

  it('writes a failure that could open the circuit at once', async () => {
    const fleet = environments(1, { ...rate, minimumCalls: 4, rateFlushIntervalMs: 60_000 })
    await rounds(fleet, 4, () => true, 1)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.OPEN)
  })

  it('opens on the slow-call rate', async () => {
    const fleet = environments(4, {
      slowCallRateThreshold: 0.5,
      slowCallDurationMs: 1_000,
      minimumCalls: 8,
    })
    for (let round = 0; round < 4; round++) {
      for (const { breaker } of fleet.members) {
        await breaker
          .execute(async () => {
            fleet.clock.advance(1_500)
            return 'eventually'
          })
          .catch(() => undefined)
      }
    }
    expect((await fleet.reader.getState()).state).toBe(CircuitState.OPEN)
  })

  it('counts a write whose answer was lost once, sending it again under its op id', async () => {
    const fleet = environments(1, { ...rate, minimumCalls: 1_000, rateFlushIntervalMs: 0 })
    const { store } = fleet.members[0] as (typeof fleet.members)[0]
    store.fault = 'lose-answer'
    store.faultOperations = new Set(['addCounts'])
    await rounds(fleet, 3, () => false)
    store.fault = 'none'
    await rounds(fleet, 1, () => false)
    const { record } = await fleet.reader.getState()
    expect(record.state === CircuitState.CLOSED && record.calls).toBe(4)
  })

  /**
   * Two environments; elsewhere counted four failures in four calls but its opening write failed,
   * leaving the shared record CLOSED at the threshold. Here, contending for the opening, finds a
   * success counted just before its write arrives, so the store refuses it (more calls than it
   * saw), though four failures in five is still above 50 %.
   */
  async function refusedOpening() {
    const fleet = environments(2, { ...rate, minimumCalls: 4, rateFlushIntervalMs: 0, resetTimeoutMs: 30_000 })
    const [elsewhere, here] = fleet.members as [(typeof fleet.members)[0], (typeof fleet.members)[0]]
    elsewhere.store.fault = 'error'
    elsewhere.store.faultOperations = new Set(['transition'])
    for (let call = 0; call < 4; call++) await rejectionOf(elsewhere.breaker.execute(fails))
    const { record } = await fleet.reader.getState()
    expect(record.state === CircuitState.CLOSED && [record.calls, record.failures]).toEqual([4, 4])
    const transition = here.store.transition.bind(here.store)
    here.store.transition = async (circuitId, request, options) => {
      here.store.transition = transition
      await here.store.inner.addCounts(circuitId, {
        opId: randomUUID(),
        now: fleet.clock.now(),
        generation: record.generation,
        windowMs: rate.rateWindowMs as number,
        calls: 1,
        failures: 0,
        slowCalls: 0,
      })
      return transition(circuitId, request, options)
    }
    const refused = await rejectionOf(here.breaker.execute(async () => 'ok'))
    return { fleet, here, refused }
  }

  it('turns a call away as open when its opening is refused, the rate still above the threshold; the next call opens', async () => {
    const { fleet, here, refused } = await refusedOpening()
    expect(isCircuitOpenError(refused) && [refused.reason, refused.state, refused.retryAfterMs]).toEqual([
      RejectionReason.OPEN,
      CircuitState.OPEN,
      30_000,
    ])
    expect(await rejectionOf(here.breaker.execute(async () => 'ok'))).toBeInstanceOf(CircuitOpenError)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.OPEN)
    expect(fleet.opened()).toHaveLength(1)
  })

  it('admits the next call when the rate fell below the threshold after the refused opening', async () => {
    // Twenty healthy calls, then nothing opens: four failures in twenty-five.
    const { fleet, here } = await refusedOpening()
    await here.store.inner.addCounts('payment-api', {
      opId: randomUUID(),
      now: fleet.clock.now(),
      generation: (await fleet.reader.getState()).record.generation,
      windowMs: rate.rateWindowMs as number,
      calls: 20,
      failures: 0,
      slowCalls: 0,
    })
    fleet.clock.advance(10_000)
    await expect(here.breaker.execute(async () => 'ok')).resolves.toBe('ok')
  })
})

describe('a quorum of environments', () => {
  it('does not open when one environment fails every call and the others are healthy', async () => {
    const fleet = environments(5, { failureThreshold: 3, minEnvironments: 3 })
    let call = 0
    for (let round = 0; round < 20; round++) {
      for (const [index, { breaker }] of fleet.members.entries()) {
        const failing = index === 0
        await breaker
          .execute(async () => {
            call++
            if (failing) throw new ServiceUnavailable()
            return 'ok'
          })
          .catch(() => undefined)
      }
    }
    expect(call).toBe(100)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('opens when failures come from enough distinct environments', async () => {
    const fleet = environments(5, { failureThreshold: 3, minEnvironments: 3 })
    await rounds(fleet, 1, (call) => call < 3)
    expect((await fleet.reader.getState()).state).toBe(CircuitState.OPEN)
    expect(fleet.opened()).toHaveLength(1)
  })

  it('applies to the failure-rate mode too', async () => {
    const lonely = environments(4, { failureRateThreshold: 0.2, minimumCalls: 10, minEnvironments: 2 })
    await rounds(lonely, 10, (call) => call % 4 === 0) // only environment 0 fails: 25 %
    expect((await lonely.reader.getState()).state).toBe(CircuitState.CLOSED)
    const spread = environments(4, { failureRateThreshold: 0.2, minimumCalls: 10, minEnvironments: 2 })
    await rounds(spread, 10, (call) => call % 4 < 2 && call % 8 < 4) // environments 0 and 1 fail
    expect((await spread.reader.getState()).state).toBe(CircuitState.OPEN)
  })
})

describe('trip options', () => {
  it.each([
    ['failureRateThreshold', 0],
    ['failureRateThreshold', 1.5],
    ['slowCallRateThreshold', Number.NaN],
    ['minEnvironments', 17],
    ['minimumCalls', 0],
  ])('rejects %s = %p, naming the option', (option, value) => {
    const build = () => new CircuitBreaker({ circuitId: 'x', store: new MemoryStore(), [option]: value })
    expect(build).toThrow(new RegExp(option))
    try {
      build()
    } catch (error) {
      expect(isInvalidConfigurationError(error)).toBe(true)
    }
  })

  it('reads the failure rate from its environment variable, and rejects one that does not parse', () => {
    const store = new MemoryStore()
    const env = { CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD: '0.25' }
    expect(resolveOptions({ circuitId: 'x', store }, env).failureRateThreshold).toBe(0.25)
    const bad = { CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD: 'half' }
    expect(() => resolveOptions({ circuitId: 'x', store }, bad)).toThrow(/CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD/)
  })
})

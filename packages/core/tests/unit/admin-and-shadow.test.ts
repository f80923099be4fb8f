import {
  CircuitAdmin,
  CircuitState,
  encodeFlatRecord,
  HistoryAction,
  InvalidConfigurationError,
  isCircuitOpenError,
  isStoreUnavailableError,
  MemoryStore,
  RejectionReason,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { decodeFlatRecord } from '../../src/store/flat-record.js'
import { fails, fleet, recordingLogger, rejectionOf, succeeds } from './support.js'

function adminOf(store: InstrumentedStore | MemoryStore, clock: ManualClock, actor = 'alice') {
  return new CircuitAdmin({ store, now: clock.now, actor, logger: recordingLogger(), timeoutMs: 1_000 })
}

describe('CircuitAdmin', () => {
  it('forces a circuit open with who, why and until, which every breaker then shows and rejects with', async () => {
    const { breakers, store, clock, changes } = fleet(2, { cacheTtlMs: 0 })
    const admin = adminOf(store, clock)
    await (breakers[1] as (typeof breakers)[0]).getState()
    const change = await admin.forceOpen('payment-api', { reason: 'INC-42: provider down', durationMs: 60_000 })
    expect(change).toMatchObject({ circuitId: 'payment-api', applied: true })
    expect(change.status).toMatchObject({
      state: CircuitState.OPEN,
      exists: true,
      retryAfterMs: 60_000,
      forced: {
        state: 'OPEN',
        actor: 'alice',
        reason: 'INC-42: provider down',
        since: clock.now(),
        until: clock.now() + 60_000,
      },
    })
    const error = await rejectionOf((breakers[1] as (typeof breakers)[0]).execute(succeeds))
    expect(isCircuitOpenError(error) && error).toMatchObject({
      reason: RejectionReason.FORCED_OPEN,
      forcedReason: 'INC-42: provider down',
      forcedActor: 'alice',
      forcedSince: clock.now(),
      forcedUntil: clock.now() + 60_000,
    })
    expect((error as Error).message).toContain('by alice')
    expect(changes.at(-1)).toMatchObject({
      to: CircuitState.OPEN,
      forced: { actor: 'alice', reason: 'INC-42: provider down', until: clock.now() + 60_000 },
    })
    clock.advance(60_000)
    expect(await (breakers[0] as (typeof breakers)[0]).execute(succeeds)).toBe('ok')
  })

  it('reports status per circuit in the order asked, a circuit never written as fresh and absent', async () => {
    const clock = new ManualClock()
    const admin = adminOf(new MemoryStore(), clock)
    await admin.forceClose('email-api', { reason: 'flaky alarm', actor: 'bob' })
    const [unknown, email] = await admin.status(['nobody', 'email-api'])
    expect(unknown).toMatchObject({ circuitId: 'nobody', exists: false, state: CircuitState.CLOSED, failures: 0 })
    expect(email).toMatchObject({
      circuitId: 'email-api',
      exists: true,
      forced: { state: 'CLOSED', actor: 'bob' },
      lastAction: { action: HistoryAction.FORCE_CLOSE, actor: 'bob', reason: 'flaky alarm' },
    })
  })

  it('clears only its own override when asked to, atomically, and says whether it did', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const alarm = new CircuitAdmin({ store, now: clock.now, actor: 'alarm:payments-5xx', logger: recordingLogger() })
    const person = adminOf(store, clock, 'carol')
    await alarm.forceOpen('payment-api', { reason: 'ALARM' })
    await person.forceOpen('payment-api', { reason: 'keeping it open while we investigate' })
    const refused = await alarm.clearOverride('payment-api', { onlyIfActor: 'alarm:payments-5xx' })
    expect(refused.applied).toBe(false)
    expect(refused.status.forced).toMatchObject({ actor: 'carol' })
    await alarm.forceOpen('payment-api', { reason: 'ALARM again' })
    const cleared = await alarm.clearOverride('payment-api', { onlyIfActor: 'alarm:payments-5xx', reason: 'OK' })
    expect(cleared.applied).toBe(true)
    expect(cleared.status.forced).toBeUndefined()
  })

  it('keeps a bounded history, newest first, through resets', async () => {
    const clock = new ManualClock()
    const admin = adminOf(new MemoryStore(), clock)
    await admin.forceOpen('payment-api', { reason: 'first' })
    clock.advance(1_000)
    await admin.reset('payment-api', { actor: 'dave', reason: 'fixed' })
    clock.advance(1_000)
    await admin.setShadow('payment-api', true, { reason: 'tuning', durationMs: 3_600_000 })
    const history = await admin.history('payment-api')
    expect(history.map((entry) => [entry.action, entry.actor, entry.reason])).toEqual([
      [HistoryAction.SHADOW_ON, 'alice', 'tuning'],
      [HistoryAction.RESET, 'dave', 'fixed'],
      [HistoryAction.FORCE_OPEN, 'alice', 'first'],
    ])
    expect(history[0]?.until).toBe(clock.now() + 3_600_000)
    for (let index = 0; index < 30; index++) await admin.clearOverride('payment-api', { reason: `n${index}` })
    const bounded = await admin.history('payment-api')
    expect(bounded).toHaveLength(20)
    expect(bounded[0]?.reason).toBe('n29')
  })

  it('lists every circuit across pages', async () => {
    const clock = new ManualClock()
    const admin = adminOf(new MemoryStore(), clock)
    expect(await admin.list()).toEqual({ circuits: [] })
    for (const id of ['a', 'b', 'c', 'd', 'e']) await admin.forceClose(id)
    const ids: string[] = []
    let cursor: string | undefined
    do {
      const page = await admin.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) })
      expect(page.circuits.length).toBeLessThanOrEqual(2)
      ids.push(...page.circuits.map((circuit) => circuit.circuitId))
      cursor = page.cursor
    } while (cursor !== undefined)
    expect(ids).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('rejects bad input with a typed error naming the field', async () => {
    const clock = new ManualClock()
    const admin = new CircuitAdmin({ store: new MemoryStore(), now: clock.now })
    await expect(admin.forceOpen('payment-api')).rejects.toMatchObject({ option: 'actor' })
    await expect(admin.forceOpen('payment-api', { actor: 'a', durationMs: 0 })).rejects.toMatchObject({
      option: 'durationMs',
    })
    await expect(admin.forceOpen('', { actor: 'a' })).rejects.toBeInstanceOf(InvalidConfigurationError)
    await expect(admin.list({ limit: 5_000 })).rejects.toMatchObject({ option: 'limit' })
    await expect(admin.list({ cursor: 'garbage!' })).rejects.toMatchObject({ option: 'cursor' })
    expect(() => new CircuitAdmin({ store: {} as MemoryStore })).toThrow(InvalidConfigurationError)
  })

  it('reports a store it cannot reach with a StoreUnavailableError, never retrying a write it cannot check', async () => {
    const clock = new ManualClock()
    const store = new InstrumentedStore(new MemoryStore())
    store.fault = 'error'
    const admin = adminOf(store, clock)
    const error = await rejectionOf(admin.forceOpen('payment-api', { reason: 'x' }))
    expect(isStoreUnavailableError(error) && error).toMatchObject({ circuitId: 'payment-api', operation: 'force-open' })
    // Whether the first write applied cannot be read back, so it is not sent again.
    expect(store.calls.get('setForced')).toBe(1)
    expect(isStoreUnavailableError(await rejectionOf(admin.list()))).toBe(true)
  })
})

describe('shadow mode', () => {
  it('never rejects an open circuit: admits and logs "would reject" (rate-limited), counting nothing', async () => {
    const { breaker, clock, store, logger } = fleet(1, { shadow: true, failureThreshold: 2, cacheTtlMs: 0 })
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    store.resetCounts()
    for (let index = 0; index < 5; index++) await rejectionOf(breaker.execute(fails))
    expect(await breaker.execute(succeeds)).toBe('ok')
    const wouldReject = logger.at('info').filter((entry) => entry.message.includes('would reject'))
    expect(wouldReject).toHaveLength(1)
    expect(wouldReject[0]?.details).toMatchObject({ circuitId: 'payment-api', wouldReject: 'open', counted: false })
    // Decided and recorded as usual: still open, the same generation, nothing written.
    const state = await breaker.getState()
    expect(state).toMatchObject({ state: CircuitState.OPEN, shadow: true, openCount: 1 })
    expect(store.writes).toBe(0)
    clock.advance(10_000)
    await rejectionOf(breaker.execute(fails))
    expect(
      logger
        .at('info')
        .filter((entry) => entry.message.includes('would reject'))
        .at(-1)?.details,
    ).toMatchObject({
      alsoSincePreviousLog: expect.any(Number),
    })
  })

  it('lets a call through a busy half-open circuit without taking a lease, and only the probe decides', async () => {
    const { breakers, clock, store } = fleet(2, { shadow: true, failureThreshold: 1, cacheTtlMs: 0 })
    const [first, second] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await rejectionOf(first.execute(fails))
    clock.advance(60_000)
    let releaseProbe: () => void = () => {}
    const probe = first.execute(() => new Promise<string>((resolve) => (releaseProbe = () => resolve('probe ok'))))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const halfOpen = await second.getState()
    expect(halfOpen).toMatchObject({ state: CircuitState.HALF_OPEN, probesInFlight: 1 })
    store.resetCounts()
    // A failure let through in shadow mode: no lease, and it does not reopen the circuit.
    await rejectionOf(second.execute(fails))
    expect(store.calls.get('acquireProbe') ?? 0).toBe(0)
    expect(store.calls.get('transition') ?? 0).toBe(0)
    expect(await second.getState()).toMatchObject({ state: CircuitState.HALF_OPEN, probesInFlight: 1 })
    releaseProbe()
    expect(await probe).toBe('probe ok')
    expect((await second.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('counts a call let through during a ramp as a call of the closed circuit', async () => {
    const { breaker, clock, store } = fleet(1, { shadow: true, failureThreshold: 3, rampUpMs: 10_000, cacheTtlMs: 0 })
    await breaker.forceOpen({ actor: 'ops' })
    await breaker.reset({ actor: 'ops' })
    clock.advance(1)
    store.resetCounts()
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).failures).toBe(1)
  })

  it('follows a fleet-wide shadow override, and an operator’s force-open still rejects', async () => {
    const { breakers, clock, store, logger } = fleet(2, { failureThreshold: 1, cacheTtlMs: 0, resetTimeoutMs: 600_000 })
    const [first, second] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const admin = adminOf(store, clock, 'ops')
    await admin.setShadow('payment-api', true, { reason: 'rollout', durationMs: 60_000 })
    await rejectionOf(first.execute(fails))
    expect(await second.execute(succeeds)).toBe('ok')
    expect(await second.getState()).toMatchObject({
      state: CircuitState.OPEN,
      shadow: true,
      shadowOverride: { actor: 'ops', reason: 'rollout' },
    })
    expect(logger.at('info').some((entry) => entry.message.includes('would reject'))).toBe(true)
    await admin.forceOpen('payment-api', { reason: 'kill switch' })
    expect(isCircuitOpenError(await rejectionOf(second.execute(succeeds)))).toBe(true)
    await admin.clearOverride('payment-api')
    clock.advance(60_000)
    // The shadow override lapsed: the open circuit rejects again.
    expect(isCircuitOpenError(await rejectionOf(second.execute(succeeds)))).toBe(true)
  })

  it('rejects a shadow option that is not a boolean, naming it', () => {
    const { store } = fleet(1)
    expect(() => fleet(1, { shadow: 'yes' as unknown as boolean })).toThrow(/shadow must be true or false/)
    expect(store).toBeDefined()
  })
})

describe('stored history', () => {
  it('reads a record whose history holds corrupt entries, keeping the readable ones and saying so', () => {
    const fields = {
      ...encodeFlatRecord({
        circuitId: 'payment-api',
        incarnation: 'a1',
        state: 'CLOSED',
        generation: 3,
        openCount: 0,
        changedAt: 5,
        failures: 0,
      }),
      history: '100\tforce-open\talice\tdrill\t\nnot an entry\n200\tmade-up\tx\ty\t\n300\treset\tbob\t\t',
    }
    const decoded = decodeFlatRecord('payment-api', fields)
    expect(decoded.valid).toBe(true)
    expect(decoded.valid && decoded.blemish).toMatch(/2 malformed history entries/)
    expect(decoded.record.history).toEqual([
      { at: 100, action: 'force-open', actor: 'alice', reason: 'drill' },
      { at: 300, action: 'reset', actor: 'bob' },
    ])
    expect(decodeFlatRecord('payment-api', { ...fields, history: 42 }).record.history).toBeUndefined()
  })
})

import { CircuitAdmin, type CircuitStore, MemoryStore } from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { alarmActor, alarmHandler } from '@fleet-breaker/lambda'
import { describe, expect, it } from '@jest/globals'
import { ALARM, alarmEvent, silent } from '../support/alarm-event.js'

/*
 * An alarm and operators acting on the same circuits at once: whatever the interleaving, an alarm
 * never clears or overwrites an override a person set.
 */

/** The store, with a hook run once right after the next read answers (before the handler writes). */
function interleavingStore(inner: CircuitStore) {
  let afterNextRead: (() => Promise<void>) | undefined
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (property !== 'get' || typeof value !== 'function')
        return typeof value === 'function' ? value.bind(target) : value
      return async (...args: unknown[]) => {
        const answer = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        const hook = afterNextRead
        afterNextRead = undefined
        if (hook !== undefined) await hook()
        return answer
      }
    },
  })
  return {
    store,
    afterNextRead(hook: () => Promise<void>) {
      afterNextRead = hook
    },
  }
}

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 15))
  const memory = new MemoryStore()
  const { store, afterNextRead } = interleavingStore(memory)
  const handler = alarmHandler({ store, circuits: { [ALARM]: ['payment-api'] }, logger: silent, now: clock.now })
  const alice = new CircuitAdmin({ store: memory, actor: 'alice@example.com', logger: silent, now: clock.now })
  const forced = async () => (await alice.status(['payment-api']))[0]?.forced
  return { clock, handler, alice, forced, afterNextRead }
}

describe('alarmHandler against operators acting at the same time', () => {
  it('a newer ALARM renewing the alarm’s override never overwrites the override an operator set in between', async () => {
    const { handler, alice, forced, afterNextRead } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000'))
    expect((await forced())?.actor).toBe(`alarm:${ALARM}`)
    // The alarm flaps (ALARM → OK lost → ALARM); while the handler is between its read and its
    // write, an operator decides the alarm is wrong and forces the circuit closed.
    afterNextRead(async () => {
      await alice.forceClose('payment-api', { reason: 'false alarm, keep serving' })
    })
    const result = await handler(alarmEvent('ALARM', '2026-12-02T15:07:10.000+0000'))
    expect(result.circuits).toEqual([{ circuitId: 'payment-api', action: 'operator-override' }])
    expect(await forced()).toMatchObject({ state: 'CLOSED', actor: 'alice@example.com' })
  })

  it('an ALARM never overwrites an override an operator set between its read and its write', async () => {
    const { handler, alice, forced, afterNextRead } = setup()
    afterNextRead(async () => {
      await alice.forceClose('payment-api', { reason: 'known false alarm' })
    })
    const result = await handler(alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000'))
    expect(result.circuits).toEqual([{ circuitId: 'payment-api', action: 'operator-override' }])
    expect(await forced()).toMatchObject({ state: 'CLOSED', actor: 'alice@example.com' })
  })

  it('an OK arriving before its (older) ALARM leaves the circuit alone when that ALARM arrives', async () => {
    const { handler, alice, forced } = setup()
    const ok = await handler(alarmEvent('OK', '2026-12-02T15:05:10.000+0000'))
    expect(ok.circuits).toEqual([{ circuitId: 'payment-api', action: 'recorded' }])
    const late = await handler(alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000'))
    expect(late.circuits).toEqual([{ circuitId: 'payment-api', action: 'stale' }])
    expect(await forced()).toBeUndefined()
    // A newer ALARM still acts.
    const newer = await handler(alarmEvent('ALARM', '2026-12-02T15:09:10.000+0000'))
    expect(newer.circuits).toEqual([{ circuitId: 'payment-api', action: 'forced-open' }])
    expect((await alice.status(['payment-api']))[0]?.state).toBe('OPEN')
  })

  it('an OK racing an operator’s new override never clears it', async () => {
    const { handler, alice, forced, afterNextRead } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000'))
    afterNextRead(async () => {
      await alice.forceOpen('payment-api', { reason: 'INC-42: keep it open until the provider confirms' })
    })
    const result = await handler(alarmEvent('OK', '2026-12-02T15:05:10.000+0000'))
    expect(result.circuits).toEqual([{ circuitId: 'payment-api', action: 'not-ours' }])
    expect(await forced()).toMatchObject({ state: 'OPEN', actor: 'alice@example.com' })
  })

  it('an ALARM and OK redelivered after an operator took over leave the operator’s override alone', async () => {
    const { handler, alice, forced } = setup()
    const alarm = alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000')
    const ok = alarmEvent('OK', '2026-12-02T15:05:10.000+0000')
    await handler(alarm)
    await alice.forceClose('payment-api', { reason: 'taking over' })
    for (const event of [alarm, ok, alarm, ok, alarm]) await handler(event)
    expect(await forced()).toMatchObject({ state: 'CLOSED', actor: 'alice@example.com' })
    const history = await alice.history('payment-api')
    // The alarm's one action and the operator's: redeliveries wrote nothing.
    expect(history.map((entry) => `${entry.action} ${entry.actor}`)).toEqual([
      'force-close alice@example.com',
      `force-open alarm:${ALARM}`,
    ])
  })

  it('two alarms whose long names share a prefix never take each other’s actions for their own', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 15))
    const store = new MemoryStore()
    const prefix = 'prod-payments-api-gateway-5xx-error-rate-above-threshold-eu-west-1'
    const critical = `${prefix}-critical`
    const warning = `${prefix}-warning`
    const handler = alarmHandler({
      store,
      circuits: { [critical]: ['payment-api'], [warning]: ['payment-api'] },
      logger: silent,
      now: clock.now,
    })
    const admin = new CircuitAdmin({ store, actor: 'reader', logger: silent, now: clock.now })
    // Distinct actors, each whole in the history (which keeps 64 characters of an actor).
    expect(alarmActor(critical)).not.toBe(alarmActor(warning))
    expect(alarmActor(critical).length).toBeLessThanOrEqual(64)
    await handler(alarmEvent('ALARM', '2026-12-02T15:05:00.000+0000', critical))
    await handler(alarmEvent('OK', '2026-12-02T15:06:00.000+0000', critical))
    // The warning alarm entered ALARM at 15:04; its event arrives late, after the critical one's.
    const late = await handler(alarmEvent('ALARM', '2026-12-02T15:04:00.000+0000', warning))
    expect(late.circuits).toEqual([{ circuitId: 'payment-api', action: 'forced-open' }])
    expect((await admin.status(['payment-api']))[0]?.forced?.actor).toBe(alarmActor(warning))
    const history = await admin.history('payment-api')
    expect(history[0]?.actor).toBe(alarmActor(warning))
  })

  it('an alarm name cut inside a surrogate pair still makes a valid actor it can clear', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 15))
    const store = new MemoryStore()
    const name = `${'x'.repeat(47)}🚨🚨🚨🚨-alarm`
    const handler = alarmHandler({ store, circuits: { [name]: ['payment-api'] }, logger: silent, now: clock.now })
    const actor = alarmActor(name)
    expect(actor).toBe(actor.normalize())
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(actor)).toBe(false)
    await handler(alarmEvent('ALARM', '2026-12-02T15:05:00.000+0000', name))
    const cleared = await handler(alarmEvent('OK', '2026-12-02T15:06:00.000+0000', name))
    expect(cleared.circuits).toEqual([{ circuitId: 'payment-api', action: 'cleared' }])
  })
})

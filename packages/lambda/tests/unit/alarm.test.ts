import { CircuitAdmin, MemoryStore } from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { alarmHandler } from '@fleet-breaker/lambda'
import { describe, expect, it } from '@jest/globals'
import { ALARM, alarmEvent, silent } from '../support/alarm-event.js'

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 15))
  const store = new MemoryStore()
  const handler = alarmHandler({
    store,
    circuits: { [ALARM]: ['payment-api', 'refund-api'] },
    logger: silent,
    now: clock.now,
  })
  const admin = new CircuitAdmin({ store, actor: 'alice@example.com', logger: silent, now: clock.now })
  const state = async (circuitId = 'payment-api') => (await admin.status([circuitId]))[0]
  return { clock, handler, admin, state }
}

describe('alarmHandler', () => {
  it('ALARM forces every mapped circuit open, naming the alarm; OK clears what it set', async () => {
    const { handler, state } = setup()
    const opened = await handler(alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000'))
    expect(opened.circuits).toEqual([
      { circuitId: 'payment-api', action: 'forced-open' },
      { circuitId: 'refund-api', action: 'forced-open' },
    ])
    for (const circuitId of ['payment-api', 'refund-api']) {
      const status = await state(circuitId)
      expect(status?.state).toBe('OPEN')
      expect(status?.forced).toMatchObject({ state: 'OPEN', actor: `alarm:${ALARM}` })
      expect(status?.forced?.reason).toContain(`CloudWatch alarm "${ALARM}"`)
    }
    const cleared = await handler(alarmEvent('OK', '2026-12-02T15:05:10.000+0000'))
    expect(cleared.circuits.map((circuit) => circuit.action)).toEqual(['cleared', 'cleared'])
    expect((await state())?.state).toBe('CLOSED')
    expect((await state())?.forced).toBeUndefined()
  })

  it('a repeated event changes nothing', async () => {
    const { handler, admin } = setup()
    const event = alarmEvent('ALARM', '2026-12-02T15:00:10.000+0000')
    await handler(event)
    const historyBefore = await admin.history('payment-api')
    const again = await handler(event)
    expect(again.circuits.map((circuit) => circuit.action)).toEqual(['stale', 'stale'])
    expect(await admin.history('payment-api')).toEqual(historyBefore)
  })

  it('an OK older than the ALARM already acted on does not clear it', async () => {
    const { handler, state } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:10:00.000+0000'))
    const late = await handler(alarmEvent('OK', '2026-12-02T15:05:00.000+0000'))
    expect(late.circuits.map((circuit) => circuit.action)).toEqual(['stale', 'stale'])
    expect((await state())?.state).toBe('OPEN')
  })

  it('an ALARM older than the OK already acted on does not reopen', async () => {
    const { handler, state } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:00:00.000+0000'))
    await handler(alarmEvent('OK', '2026-12-02T15:10:00.000+0000'))
    const late = await handler(alarmEvent('ALARM', '2026-12-02T15:05:00.000+0000'))
    expect(late.circuits.map((circuit) => circuit.action)).toEqual(['stale', 'stale'])
    expect((await state())?.state).toBe('CLOSED')
  })

  it("OK never clears an operator's override, and ALARM never replaces one", async () => {
    const { handler, admin, state } = setup()
    await admin.forceOpen('payment-api', { reason: 'INC-42: provider maintenance' })
    await admin.forceClose('refund-api', { reason: 'false alarm, investigating' })
    const alarm = await handler(alarmEvent('ALARM', '2026-12-02T15:00:00.000+0000'))
    expect(alarm.circuits.map((circuit) => circuit.action)).toEqual(['operator-override', 'operator-override'])
    expect((await state('refund-api'))?.forced).toMatchObject({ state: 'CLOSED', actor: 'alice@example.com' })
    const ok = await handler(alarmEvent('OK', '2026-12-02T15:10:00.000+0000'))
    expect(ok.circuits.map((circuit) => circuit.action)).toEqual(['not-ours', 'not-ours'])
    expect((await state('payment-api'))?.forced).toMatchObject({ state: 'OPEN', actor: 'alice@example.com' })
  })

  it("OK after an operator took over the alarm's override leaves the operator's in force", async () => {
    const { handler, admin, state } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:00:00.000+0000'))
    await admin.forceOpen('payment-api', { reason: 'keep it open until the provider confirms' })
    const ok = await handler(alarmEvent('OK', '2026-12-02T15:10:00.000+0000'))
    expect(ok.circuits).toEqual([
      { circuitId: 'payment-api', action: 'not-ours' },
      { circuitId: 'refund-api', action: 'cleared' },
    ])
    expect((await state('payment-api'))?.forced?.actor).toBe('alice@example.com')
  })

  it('INSUFFICIENT_DATA changes nothing; an unmapped alarm is ignored', async () => {
    const { handler, state } = setup()
    await handler(alarmEvent('ALARM', '2026-12-02T15:00:00.000+0000'))
    const unknown = await handler(alarmEvent('INSUFFICIENT_DATA', '2026-12-02T15:10:00.000+0000'))
    expect(unknown.circuits.map((circuit) => circuit.action)).toEqual(['no-action', 'no-action'])
    expect((await state())?.state).toBe('OPEN')
    expect((await handler(alarmEvent('ALARM', '2026-12-02T15:20:00.000+0000', 'other-alarm'))).circuits).toEqual([])
  })

  it('refuses an event that is not an alarm state change, and a bad mapping at construction', async () => {
    const { handler } = setup()
    await expect(handler({ detail: {} } as never)).rejects.toMatchObject({ name: 'InvalidAlarmEventError' })
    expect(() => alarmHandler({ store: new MemoryStore(), circuits: { [ALARM]: [] } })).toThrow(
      `circuits["${ALARM}"] must be a non-empty array of circuit ids`,
    )
  })
})

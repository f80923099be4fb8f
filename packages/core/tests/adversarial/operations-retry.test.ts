import {
  CircuitAdmin,
  type CircuitRecord,
  type CircuitStore,
  isStoreUnavailableError,
  MemoryStore,
  type SetForcedRequest,
  type StoreCallOptions,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'

/*
 * An operator's write whose answer is lost (applied, then the connection dropped) is retried by
 * CircuitAdmin. Operator writes are not fenced on a generation, so a retry after someone else's
 * change would undo that change: the retry must happen only when the write surely did not apply.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const CIRCUIT = 'payment-api'

type Fault = 'apply-then-drop' | 'drop-before-apply'

/** A MemoryStore whose next setForced meets `fault`, with `between` run before the error is seen. */
class LossyStore extends MemoryStore {
  next: { fault: Fault; between?: () => Promise<void> } | undefined
  setForcedCalls = 0

  override async setForced(
    circuitId: string,
    request: SetForcedRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    this.setForcedCalls++
    const planned = this.next
    this.next = undefined
    if (planned === undefined) return super.setForced(circuitId, request, options)
    if (planned.fault === 'apply-then-drop') await super.setForced(circuitId, request, options)
    await planned.between?.()
    throw new Error('socket hang up')
  }
}

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 15))
  const store = new LossyStore()
  const direct: CircuitStore = store
  const alice = new CircuitAdmin({ store, actor: 'alice', logger: silent, now: clock.now })
  const bob = new CircuitAdmin({ store: direct, actor: 'bob', logger: silent, now: clock.now })
  return { clock, store, alice, bob }
}

describe('CircuitAdmin retrying a write whose answer was lost', () => {
  it('never undoes an operator’s override set between the lost answer and the retry', async () => {
    const { store, alice, bob } = setup()
    await alice.forceOpen(CIRCUIT, { reason: 'drill' })
    // Alice's clear is applied, its answer lost; before her tool retries, Bob forces the circuit open again.
    store.next = {
      fault: 'apply-then-drop',
      between: async () => {
        await bob.forceOpen(CIRCUIT, { reason: 'INC-7: provider still down' })
      },
    }
    const error = await alice.clearOverride(CIRCUIT, { reason: 'drill over' }).catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
    const [status] = await bob.status([CIRCUIT])
    expect(status?.forced).toMatchObject({ state: 'OPEN', actor: 'bob', reason: 'INC-7: provider still down' })
    expect((await bob.history(CIRCUIT)).map((entry) => `${entry.action} ${entry.actor}`)).toEqual([
      'force-open bob',
      'clear alice',
      'force-open alice',
    ])
  })

  it('a lost answer with nobody acting meanwhile: the write counts once, reported as applied', async () => {
    const { store, alice } = setup()
    store.next = { fault: 'apply-then-drop' }
    const change = await alice.forceOpen(CIRCUIT, { reason: 'maintenance' })
    expect(change.applied).toBe(true)
    expect(change.status.forced).toMatchObject({ state: 'OPEN', actor: 'alice' })
    expect(await alice.history(CIRCUIT)).toHaveLength(1)
  })

  it('a write that never reached the store is sent again and applied once', async () => {
    const { store, alice } = setup()
    store.next = { fault: 'drop-before-apply' }
    const change = await alice.forceClose(CIRCUIT, { reason: 'false alarm' })
    expect(change.applied).toBe(true)
    expect(store.setForcedCalls).toBe(2)
    expect(await alice.history(CIRCUIT)).toHaveLength(1)
  })

  it('a write that never reached the store is not sent again once someone else changed the circuit', async () => {
    const { store, alice, bob } = setup()
    store.next = {
      fault: 'drop-before-apply',
      between: async () => {
        await bob.forceClose(CIRCUIT, { reason: 'keep serving' })
      },
    }
    const error = await alice.forceOpen(CIRCUIT, { reason: 'stale decision' }).catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
    expect((await bob.status([CIRCUIT]))[0]?.forced).toMatchObject({ state: 'CLOSED', actor: 'bob' })
  })
})

import { randomUUID } from 'node:crypto'
import { CircuitState, type CircuitStore } from '@fleet-breaker/core'

/**
 * Runs the operations a fault test aims at once, on a circuit of its own that it then clears: a
 * Redis store then has its scripts cached on the server (each later write is one EVALSHA, so a
 * held or dropped answer is the write's own, not a NOSCRIPT), and any store has its connection open.
 */
export async function warmStore(store: CircuitStore): Promise<void> {
  const circuitId = `warm-${randomUUID()}`
  await store.get(circuitId)
  await store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 1 })
  await store.transition(circuitId, {
    opId: randomUUID(),
    from: { state: CircuitState.CLOSED, generation: 0 },
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 1 },
    now: Date.now(),
  })
  await store.clearMany([circuitId])
}

/**
 * A breaker in front of a downstream that fails for a while and then recovers, on the in-memory
 * store. Three breaker instances share the store, as three Lambda execution environments would
 * share a DynamoDB table: the first failures open the circuit for all of them.
 *
 * Run it with `pnpm demo`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, isCircuitOpenError, MemoryStore } from '@fleet-breaker/core'

const DOWN_FOR_MS = 1_200
const started = Date.now()
const elapsed = () => `${String(Date.now() - started).padStart(5)} ms`

/** The downstream: refuses connections for the first DOWN_FOR_MS, then answers. */
let downstreamCalls = 0
async function callInventory(signal: AbortSignal): Promise<string> {
  downstreamCalls++
  signal.throwIfAborted()
  if (Date.now() - started < DOWN_FOR_MS) {
    throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), { code: 'ECONNREFUSED' })
  }
  return 'in stock'
}

const store = new MemoryStore()
const environments = ['env-a', 'env-b', 'env-c'].map((name) => {
  const breaker = new CircuitBreaker({ circuitId: 'inventory-api', store, failureThreshold: 3, resetTimeoutMs: 400 })
  breaker.onStateChange((change) => {
    if (change.origin === 'local')
      console.log(`${elapsed()}  ${name}: circuit ${change.from} -> ${change.to} (${change.reason})`)
  })
  return { name, breaker }
})

let calls = 0
let rejected = 0
while (Date.now() - started < 2_400) {
  for (const { name, breaker } of environments) {
    calls++
    try {
      const answer = await breaker.execute(callInventory)
      if (calls % 6 === 0) console.log(`${elapsed()}  ${name}: ${answer}`)
    } catch (error) {
      if (isCircuitOpenError(error)) rejected++
    }
  }
  await sleep(40)
}

console.log(`
${calls} invocations across ${environments.length} environments; ${downstreamCalls} reached the downstream,
${rejected} were turned away at once while the circuit was open. Final state: ${(await environments[0]?.breaker.getState())?.state}.`)

// Node.js loading the packages as ES modules: every entry point of every package, then a call through a breaker.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { CircuitBreaker, isCircuitOpenError, MemoryStore } from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { circuitBreaker } from '@fleet-breaker/middy'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import entryPointList from './entry-points.cjs'

for (const specifier of entryPointList.entryPoints()) {
  const module = await import(specifier)
  assert.ok(Object.keys(module).length > 0, `${specifier} exports nothing`)
}

for (const value of [isCircuitOpenError, ManualClock, circuitBreaker, DynamoDBStore, RedisStore]) {
  assert.equal(typeof value, 'function')
}
const breaker = new CircuitBreaker({ circuitId: 'esm', store: new MemoryStore(), failureThreshold: 1 })
assert.equal(await breaker.execute(async () => 'answered'), 'answered')
await assert.rejects(breaker.execute(async () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))))
await assert.rejects(
  breaker.execute(async () => 'not called'),
  isCircuitOpenError,
)
const store = await createStoreFromEnvironment({ env: { CIRCUIT_BREAKER_STORE: 'memory' } })
assert.equal(typeof store.get, 'function')

// The dual-package hazard: a process that loads the packages both ways holds two copies of each.
// `instanceof` cannot see across them; the guards (a registry-symbol brand) and the middleware must.
const required = createRequire(import.meta.url)('@fleet-breaker/core')
assert.notEqual(required.CircuitBreaker, CircuitBreaker)
const cjsBreaker = new required.CircuitBreaker({
  circuitId: 'cjs-copy',
  store: new required.MemoryStore(),
  failureThreshold: 1,
})
await assert.rejects(
  cjsBreaker.execute(async () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))),
)
const openError = await cjsBreaker.execute(async () => 'not called').catch((error) => error)
assert.ok(isCircuitOpenError(openError), 'the ES module guard recognises the CommonJS copy error')
assert.ok(required.isCircuitOpenError(openError))
assert.doesNotThrow(
  () => circuitBreaker({ breaker: cjsBreaker }),
  'the ES module middleware takes the CommonJS copy breaker',
)
console.log('esm: ok')

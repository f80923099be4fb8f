// Node.js loading the packages with require(): every entry point of every package, then a call through a breaker.
const assert = require('node:assert/strict')
const { CircuitBreaker, isCircuitOpenError, MemoryStore } = require('@fleet-breaker/core')
const { ManualClock } = require('@fleet-breaker/core/testing')
const { circuitBreaker } = require('@fleet-breaker/middy')
const { createStoreFromEnvironment } = require('@fleet-breaker/storage')
const { DynamoDBStore } = require('@fleet-breaker/storage/dynamodb')
const { RedisStore } = require('@fleet-breaker/storage/redis')
const { entryPoints } = require('./entry-points.cjs')

for (const specifier of entryPoints()) {
  assert.ok(Object.keys(require(specifier)).length > 0, `${specifier} exports nothing`)
}

async function main() {
  for (const value of [isCircuitOpenError, ManualClock, circuitBreaker, DynamoDBStore, RedisStore]) {
    assert.equal(typeof value, 'function')
  }
  const breaker = new CircuitBreaker({ circuitId: 'cjs', store: new MemoryStore(), failureThreshold: 1 })
  assert.equal(await breaker.execute(async () => 'answered'), 'answered')
  await assert.rejects(
    breaker.execute(async () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))),
  )
  await assert.rejects(
    breaker.execute(async () => 'not called'),
    isCircuitOpenError,
  )
  const store = await createStoreFromEnvironment({ env: { CIRCUIT_BREAKER_STORE: 'memory' } })
  assert.equal(typeof store.get, 'function')
  console.log('cjs: ok')
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})

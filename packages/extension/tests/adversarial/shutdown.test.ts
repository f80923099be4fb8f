import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import type { LambdaEmulator } from '../../../../test-support/lambda-runtime-emulator.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'
import { useExtensionHarness } from '../support/extension-harness.js'
import { call } from '../support/extension-process.js'

/*
 * SHUTDOWN while requests are in flight and the store answers nothing: the extension must still be
 * gone before the shutdown deadline (Lambda kills it after), and no request may be left hanging.
 */

const harness = useExtensionHarness()
let redis: RedisServer
let proxy: FaultProxy
let lambda: LambdaEmulator
beforeAll(async () => {
  redis = await startRedisServer()
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: redis.port }, protocol: 'resp' })
  lambda = await harness.emulator()
}, 120_000)
afterAll(async () => {
  await proxy?.stop()
  await redis?.stop()
})

it('exits before the deadline with checks waiting on a black-holed store, answering or closing each', async () => {
  const extension = await harness.extension(lambda, {
    CIRCUIT_BREAKER_STORE: 'redis',
    CIRCUIT_BREAKER_REDIS_URL: proxy.url,
    // Longer than the whole shutdown budget: the store's deadline cannot be what ends these requests.
    CIRCUIT_BREAKER_STORE_TIMEOUT_MS: '20000',
    CIRCUIT_BREAKER_CACHE_TTL_MS: '0',
  })
  const port = extension.port
  await lambda.invoke({ timeoutMs: 600_000 })
  const before = await call(port, 'POST', '/circuit/ledger/admit')
  expect(before.body).toMatchObject({ allowed: true })

  proxy.blackHole()
  proxy.dropConnections()
  const inFlight = Array.from({ length: 5 }, (_, i) =>
    call(port, i % 2 === 0 ? 'GET' : 'POST', i % 2 === 0 ? '/circuit/ledger' : '/circuit/ledger/admit').then(
      (answer) => answer.status,
      () => 'closed',
    ),
  )
  await new Promise((resolve) => setTimeout(resolve, 300))
  const { deadlineMs } = await lambda.shutdown({ budgetMs: 2_000 })
  const code = await extension.exited
  const exitedAt = Date.now()
  expect(code).toBe(0)
  // Lambda's clock and ours are the same here; a little slack for the process to be reaped.
  expect(exitedAt).toBeLessThan(deadlineMs + 500)
  const outcomes = await Promise.all(inFlight)
  for (const outcome of outcomes) expect([200, 503, 'closed']).toContain(outcome)
}, 120_000)

import { afterAll, beforeAll, expect, it } from '@jest/globals'
import type { LambdaEmulator } from '../../../../test-support/lambda-runtime-emulator.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'
import { useExtensionHarness } from '../support/extension-harness.js'
import { call } from '../support/extension-process.js'

/*
 * A private Redis that is down when the extension starts, comes up, crashes and comes back: the
 * extension fails open within the store deadline while it is down, counts in the store once it is
 * up, and never dies or logs an unexpected error.
 */

const STORE_TIMEOUT_MS = 300

const harness = useExtensionHarness()
let redis: RedisServer
let lambda: LambdaEmulator
beforeAll(async () => {
  redis = await startRedisServer()
  lambda = await harness.emulator()
}, 120_000)
afterAll(async () => {
  await redis?.stop()
})

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const startedAt = performance.now()
  const value = await work()
  return { value, ms: performance.now() - startedAt }
}

it('starts with Redis down, fails open within the deadline, and counts once Redis is back', async () => {
  await redis.kill()
  const extension = await harness.extension(lambda, {
    CIRCUIT_BREAKER_STORE: 'redis',
    CIRCUIT_BREAKER_REDIS_URL: redis.url,
    CIRCUIT_BREAKER_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
    CIRCUIT_BREAKER_CACHE_TTL_MS: '0',
    CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
    CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '600000',
  })
  const port = extension.port
  await lambda.invoke({ timeoutMs: 600_000 })

  const down = await timed(() => call(port, 'POST', '/circuit/orders/admit'))
  expect(down.value.body).toMatchObject({ allowed: true, permit: expect.any(String) })
  expect(down.ms).toBeLessThan(STORE_TIMEOUT_MS + 3_000)
  expect((await call(port, 'POST', `/permits/${down.value.body.permit}/failure`)).status).toBe(200)

  await redis.restart()
  // Two failures counted in the store open the circuit for the fleet (retrying while the client reconnects).
  let state: unknown
  for (let attempt = 0; attempt < 100 && state !== 'OPEN'; attempt++) {
    const admitted = await call(port, 'POST', '/circuit/orders/admit')
    if (admitted.body.allowed === true) await call(port, 'POST', `/permits/${admitted.body.permit}/failure`)
    state = (await call(port, 'GET', '/circuit/orders/state')).body.state
    if (state !== 'OPEN') await new Promise((resolve) => setTimeout(resolve, 200))
  }
  expect(state).toBe('OPEN')
  expect((await call(port, 'GET', '/circuit/orders/state')).body.source).toBe('store')

  // Redis crashes mid-run (its data is gone) and comes back: fail open meanwhile, then serve again.
  await redis.kill()
  const crashed = await timed(() => call(port, 'GET', '/circuit/payments'))
  expect(crashed.value.body).toMatchObject({ allowed: true })
  expect(crashed.ms).toBeLessThan(STORE_TIMEOUT_MS + 3_000)
  await call(port, 'POST', '/circuit/payments/success')
  await redis.restart()
  let served: unknown
  for (let attempt = 0; attempt < 100 && served !== 'store'; attempt++) {
    served = (await call(port, 'GET', '/circuit/payments/state')).body.source
    if (served !== 'store') await new Promise((resolve) => setTimeout(resolve, 200))
  }
  expect(served).toBe('store')

  await lambda.shutdown()
  expect(await extension.exited).toBe(0)
  const unexpected = extension.logs.filter((entry) => entry.level === 'ERROR' || 'raw' in entry)
  expect(unexpected).toEqual([])
}, 120_000)

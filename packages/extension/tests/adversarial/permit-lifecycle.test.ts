import { describe, expect, it } from '@jest/globals'
import { type EmulatorOptions, useExtensionHarness } from '../support/extension-harness.js'
import { call, type ExtensionProcess } from '../support/extension-process.js'

/*
 * Permits whose invocation overlaps others (Lambda Managed Instances run several invocations in
 * one environment) and permits nobody settles, against the real extension process.
 */

const harness = useExtensionHarness()

function launch(env: Record<string, string>, emulator: EmulatorOptions = {}) {
  return harness.launch({ CIRCUIT_BREAKER_CACHE_TTL_MS: '0', ...env }, { emulator })
}

function admit(extension: ExtensionProcess, circuit: string, requestId?: string) {
  return call(extension.port, 'POST', `/circuit/${circuit}/admit`, {
    headers: requestId === undefined ? {} : { 'Lambda-Runtime-Aws-Request-Id': requestId },
  })
}

/** Polls `GET /health` until `permits` is `expected` (or the test's timeout ends it). */
async function permitsBecome(extension: ExtensionProcess, expected: number): Promise<number> {
  for (;;) {
    const permits = (await call(extension.port, 'GET', '/health')).body.permits
    if (permits === expected) return permits
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('several invocations at once (AWS_LAMBDA_MAX_CONCURRENCY)', () => {
  it('a new INVOKE does not release the permits of an invocation still running', async () => {
    const { extension, lambda } = await launch({ AWS_LAMBDA_MAX_CONCURRENCY: '4' })
    await lambda.invoke({ requestId: 'first' })
    const running = await admit(extension, 'payment-api', 'first')
    expect(running.body).toMatchObject({ allowed: true })
    // A second invocation starts while the first is still calling the downstream.
    await lambda.invoke({ requestId: 'second' })
    const settled = await call(extension.port, 'POST', `/permits/${running.body.permit}/failure`)
    expect(settled).toMatchObject({ status: 200, body: { verdict: 'failure' } })
    const state = await call(extension.port, 'GET', '/circuit/payment-api/state')
    expect(state.body.failures).toBe(1)
  }, 60_000)

  it('keeps the permits of invocations that begin together', async () => {
    const { extension, lambda } = await launch({ AWS_LAMBDA_MAX_CONCURRENCY: '4' })
    const ids = ['one', 'two', 'three']
    await Promise.all(ids.map((requestId) => lambda.invoke({ requestId })))
    const admitted = await Promise.all(ids.map((requestId) => admit(extension, 'together', requestId)))
    await Promise.all(ids.map((requestId) => lambda.invoke({ requestId: `${requestId}-next` })))
    for (const answer of admitted) {
      expect((await call(extension.port, 'POST', `/permits/${answer.body.permit}/success`)).status).toBe(200)
    }
  }, 60_000)

  it("releases an invocation's unsettled permits at its own deadline", async () => {
    const { extension, lambda } = await launch({ AWS_LAMBDA_MAX_CONCURRENCY: '4' })
    await lambda.invoke({ requestId: 'short', timeoutMs: 1_500 })
    await lambda.invoke({ requestId: 'long', timeoutMs: 600_000 })
    const forgotten = await admit(extension, 'stock', 'short')
    const kept = await admit(extension, 'stock', 'long')
    expect(await permitsBecome(extension, 1)).toBe(1)
    expect((await call(extension.port, 'POST', `/permits/${forgotten.body.permit}/success`)).status).toBe(404)
    expect((await call(extension.port, 'POST', `/permits/${kept.body.permit}/success`)).status).toBe(200)
  }, 60_000)

  it('starts when INVOKE subscriptions are refused, registered for SHUTDOWN only', async () => {
    const { extension, lambda } = await launch({ AWS_LAMBDA_MAX_CONCURRENCY: '8' }, { refuseInvokeRegistration: true })
    expect(lambda.extensions.map((registered) => registered.events)).toEqual([['SHUTDOWN']])
    expect((await admit(extension, 'search')).body).toMatchObject({ allowed: true })
    await lambda.shutdown()
    expect(await extension.exited).toBe(0)
  }, 60_000)
})

describe('a permit nobody settles', () => {
  it('lapses after CIRCUIT_BREAKER_EXTENSION_PERMIT_TTL_MS even when no other permit is asked for', async () => {
    const { extension } = await launch({ CIRCUIT_BREAKER_EXTENSION_PERMIT_TTL_MS: '1000' })
    const orphan = await admit(extension, 'orphaned', 'never-seen-invocation')
    expect(orphan.body).toMatchObject({ allowed: true })
    expect(await permitsBecome(extension, 0)).toBe(0)
    expect((await call(extension.port, 'POST', `/permits/${orphan.body.permit}/success`)).status).toBe(404)
  }, 60_000)
})

describe('the compatible API used by a caller that reports failures only', () => {
  it('keeps admitting checks once unreported ones fill the ledger, and still counts the failures', async () => {
    const { extension, lambda } = await launch({
      CIRCUIT_BREAKER_EXTENSION_MAX_PERMITS: '4',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '3',
      CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '600000',
    })
    await lambda.invoke({ timeoutMs: 600_000 })
    for (let check = 0; check < 10; check++) {
      expect(await call(extension.port, 'GET', '/circuit/ledger-filler')).toMatchObject({
        status: 200,
        body: { allowed: true },
      })
    }
    expect((await call(extension.port, 'GET', '/health')).body.permits).toBe(4)
    for (let failure = 0; failure < 3; failure++) {
      expect((await call(extension.port, 'POST', '/circuit/ledger-filler/failure')).body).toEqual({
        recorded: true,
        verdict: 'failure',
      })
    }
    expect((await call(extension.port, 'GET', '/circuit/ledger-filler')).body).toMatchObject({
      allowed: false,
      state: 'OPEN',
    })
  }, 60_000)

  it('keeps answering checks on new circuits once unreported checks hold every breaker', async () => {
    const { extension, lambda } = await launch({ CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS: '2' })
    await lambda.invoke({ timeoutMs: 600_000 })
    const held = await call(extension.port, 'POST', '/circuit/held/admit')
    for (const circuit of ['first', 'second', 'third', 'fourth']) {
      expect(await call(extension.port, 'GET', `/circuit/${circuit}`)).toMatchObject({
        status: 200,
        body: { allowed: true },
      })
    }
    // A permit of the permit API is never displaced.
    expect((await call(extension.port, 'POST', `/permits/${held.body.permit}/success`)).status).toBe(200)
  }, 60_000)
})

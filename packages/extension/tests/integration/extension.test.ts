import { beforeAll, describe, expect, it } from '@jest/globals'
import { freePort } from '../../../../test-support/redis-setup.js'
import { FleetBreakerClient } from '../../src/client.js'
import { ATTRIBUTION_GRACE_MS } from '../../src/permit-ledger.js'
import { useExtensionHarness } from '../support/extension-harness.js'
import {
  builtNodeLayer,
  builtSingleExecutable,
  call,
  type ExtensionCommand,
  type ExtensionProcess,
  emulatedArm64Executable,
  rawExchange,
} from '../support/extension-process.js'
import { runToExit } from '../support/run-to-exit.js'

/*
 * The real extension process (the esbuild bundle run by node, and the single executable when it
 * has been built) driven through its life by an emulator of the Lambda Extensions API.
 */

const BASE_ENV = {
  CIRCUIT_BREAKER_CACHE_TTL_MS: '0',
  CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
  CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '60000',
}

const harness = useExtensionHarness()

/** The extension `command` started with {@link BASE_ENV} and `env`, against an emulator of its own. */
function launch(command: ExtensionCommand, env: Record<string, string> = {}) {
  return harness.launch({ ...BASE_ENV, ...env }, { command })
}

const sea = builtSingleExecutable()
if (sea === undefined) {
  console.info(
    'The single-executable tests are skipped: no layers/sea-*/extensions/fleet-breaker for this architecture. ' +
      'Build it with `pnpm --filter @fleet-breaker/extension package` (CI does, before the tests).',
  )
}
const nodeLayer = builtNodeLayer()
const variants: Array<[string, () => ExtensionCommand]> = [
  ['bundled JS', () => harness.bundled],
  ...(sea === undefined ? [] : [[sea.label, () => sea] as [string, () => ExtensionCommand]]),
]

describe('the Node.js layer', () => {
  if (nodeLayer === undefined) {
    it.skip('needs layers/nodejs (pnpm --filter @fleet-breaker/extension package)', () => {})
    return
  }
  it("its launcher runs the bundle with node, ignoring the function's NODE_OPTIONS", async () => {
    const { extension, lambda } = await launch(nodeLayer, { NODE_OPTIONS: '--require /var/task/absent-hook.js' })
    await lambda.invoke()
    expect((await call(extension.port, 'GET', '/circuit/node-layer')).body).toEqual({ allowed: true, state: 'CLOSED' })
    await lambda.shutdown()
    expect(await extension.exited).toBe(0)
  }, 60_000)
})

describe.each(variants)('the extension (%s)', (_label, command) => {
  it('binds its HTTP API before it registers, then follows invocations and exits cleanly on SHUTDOWN', async () => {
    const port = await freePort()
    const lambda = await harness.emulator()
    const healthAtRegistration = new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        if (lambda.extensions.length === 0) return
        clearInterval(poll)
        call(port, 'GET', '/health').then(
          (answer) => resolve(answer.status),
          () => resolve(0),
        )
      }, 1)
    })
    const extension = await harness.extension(
      lambda,
      { ...BASE_ENV, CIRCUIT_BREAKER_EXTENSION_PORT: String(port) },
      command(),
    )
    expect(await healthAtRegistration).toBe(200)
    expect(lambda.extensions).toEqual([
      expect.objectContaining({ name: 'fleet-breaker', events: ['INVOKE', 'SHUTDOWN'] }),
    ])
    expect(extension.startToRegisteredMs).toBeGreaterThan(0)

    await lambda.invoke()
    const health = await call(port, 'GET', '/health')
    expect(health.body).toEqual({ status: 'ok', circuits: 0, permits: 0, store: 'memory' })

    await lambda.shutdown()
    expect(await extension.exited).toBe(0)
    expect(extension.logs.some((entry) => entry.message === 'shut down')).toBe(true)
  }, 60_000)

  it('the permit API: admits, counts settled failures, opens, and refuses without a permit', async () => {
    const { extension, lambda } = await launch(command())
    await lambda.invoke()
    for (let i = 0; i < 2; i++) {
      const admitted = await call(extension.port, 'POST', '/circuit/payments/admit')
      expect(admitted.status).toBe(200)
      expect(admitted.body).toEqual({
        allowed: true,
        state: 'CLOSED',
        permit: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
        isProbe: false,
        retryAfterMs: 0,
      })
      const settled = await call(extension.port, 'POST', `/permits/${admitted.body.permit}/failure`)
      expect(settled.body).toEqual({ verdict: 'failure' })
    }
    const refused = await call(extension.port, 'POST', '/circuit/payments/admit')
    expect(refused.body).toEqual({
      allowed: false,
      state: 'OPEN',
      isProbe: false,
      retryAfterMs: expect.any(Number),
      reason: 'open',
    })
    expect(refused.body.retryAfterMs).toBeGreaterThan(50_000)
    const state = await call(extension.port, 'GET', '/circuit/payments/state')
    expect(state.body).toMatchObject({ circuitId: 'payments', state: 'OPEN', openCount: 1, source: 'store' })
    expect(state.body.record).toBeUndefined()
  }, 60_000)

  it('the compatible API: a refused check counts nothing; the probe a check admitted is settled by the next outcome', async () => {
    const { extension, lambda } = await launch(command(), { CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '400' })
    await lambda.invoke()
    expect((await call(extension.port, 'GET', '/circuit/inventory')).body).toEqual({ allowed: true, state: 'CLOSED' })
    expect((await call(extension.port, 'POST', '/circuit/inventory/failure')).body).toEqual({
      recorded: true,
      verdict: 'failure',
    })
    // An outcome reported without a check counts too, as circuitbreaker-lambda's would.
    await call(extension.port, 'POST', '/circuit/inventory/failure')
    const refused = await call(extension.port, 'GET', '/circuit/inventory')
    expect(refused.body).toMatchObject({ allowed: false, state: 'OPEN', reason: 'open' })
    // Nothing was admitted, so a failure reported now counts nothing.
    expect((await call(extension.port, 'POST', '/circuit/inventory/failure')).body).toEqual({
      recorded: false,
      verdict: 'ignored',
    })
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect((await call(extension.port, 'GET', '/circuit/inventory')).body).toEqual({
      allowed: true,
      state: 'HALF_OPEN',
    })
    // The probe's slot is taken until its outcome arrives.
    expect((await call(extension.port, 'GET', '/circuit/inventory')).body).toMatchObject({
      allowed: false,
      reason: 'probes-busy',
    })
    expect((await call(extension.port, 'POST', '/circuit/inventory/success')).body).toEqual({
      recorded: true,
      verdict: 'success',
    })
    expect((await call(extension.port, 'GET', '/circuit/inventory/state')).body).toMatchObject({ state: 'CLOSED' })
  }, 60_000)

  it('releases the permits an invocation left unsettled when the next one begins, and at its deadline', async () => {
    const { extension, lambda } = await launch(command(), { CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '300' })
    await lambda.invoke()
    for (let i = 0; i < 2; i++) {
      const { body } = await call(extension.port, 'POST', '/circuit/search/admit')
      await call(extension.port, 'POST', `/permits/${body.permit}/failure`)
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    const probe = await call(extension.port, 'POST', '/circuit/search/admit')
    expect(probe.body).toMatchObject({ allowed: true, isProbe: true, state: 'HALF_OPEN' })
    expect((await call(extension.port, 'POST', '/circuit/search/admit')).body).toMatchObject({ reason: 'probes-busy' })

    // The function returned without settling (and, a while later, the next invocation begins; a
    // permit admitted within ATTRIBUTION_GRACE_MS of the INVOKE would be taken for the new one's).
    await new Promise((resolve) => setTimeout(resolve, ATTRIBUTION_GRACE_MS + 100))
    await lambda.invoke({ timeoutMs: 300 })
    expect((await call(extension.port, 'POST', `/permits/${probe.body.permit}/success`)).body).toMatchObject({
      error: { code: 'unknown-permit' },
    })
    const second = await call(extension.port, 'POST', '/circuit/search/admit')
    expect(second.body).toMatchObject({ allowed: true, isProbe: true })

    // This invocation's deadline passes with the probe unsettled: it is released then.
    await new Promise((resolve) => setTimeout(resolve, 600))
    const afterDeadline = await call(extension.port, 'POST', `/permits/${second.body.permit}/failure`)
    expect(afterDeadline.status).toBe(404)
    expect((await call(extension.port, 'GET', '/health')).body).toMatchObject({ permits: 0 })
  }, 60_000)

  it('a permit named with the invocation it belongs to is kept for that invocation', async () => {
    const { extension, lambda } = await launch(command())
    const headers = { 'Lambda-Runtime-Aws-Request-Id': 'request-2' }
    await lambda.invoke({ requestId: 'request-1' })
    // The function of request-2 asks before the extension has read request-2's INVOKE.
    const early = await call(extension.port, 'POST', '/circuit/ledger/admit', { headers })
    await lambda.invoke({ requestId: 'request-2' })
    expect((await call(extension.port, 'POST', `/permits/${early.body.permit}/success`)).body).toEqual({
      verdict: 'success',
    })
  }, 60_000)
})

describe('the extension under hostile and malformed requests', () => {
  // One process for the whole group, with an emulator of its own.
  let extension: ExtensionProcess
  const token = 'a-shared-secret-of-some-length'
  const auth = { 'X-Fleet-Breaker-Token': token }

  beforeAll(async () => {
    const launched = await launch(harness.bundled, { CIRCUIT_BREAKER_EXTENSION_TOKEN: token })
    extension = launched.extension
    await launched.lambda.invoke()
  }, 60_000)

  it.each([
    [
      'a forwarded request',
      'GET',
      '/circuit/a',
      { ...auth, 'X-Forwarded-For': '203.0.113.9' },
      403,
      'forwarded-request',
    ],
    [
      'a forwarded request (RFC 7239)',
      'GET',
      '/circuit/a',
      { ...auth, Forwarded: 'for=203.0.113.9' },
      403,
      'forwarded-request',
    ],
    [
      'a Host that is not the loopback',
      'GET',
      '/circuit/a',
      { ...auth, Host: 'evil.example.com' },
      403,
      'invalid-host',
    ],
    ['a missing token', 'GET', '/circuit/a', {}, 401, 'unauthorized'],
    ['a wrong token', 'GET', '/circuit/a', { 'X-Fleet-Breaker-Token': 'not-the-secret-at-all!' }, 401, 'unauthorized'],
    ['an unknown route', 'GET', '/circuits', auth, 404, 'not-found'],
    ['a trailing slash', 'GET', '/circuit/a/', auth, 404, 'not-found'],
    ['a circuit id with a space', 'GET', '/circuit/a%20b', auth, 400, 'invalid-circuit-id'],
    ['a circuit id with a slash', 'GET', '/circuit/a%2Fb', auth, 400, 'invalid-circuit-id'],
    ['a circuit id of 257 characters', 'GET', `/circuit/${'a'.repeat(257)}`, auth, 400, 'invalid-circuit-id'],
    ['a malformed escape', 'GET', '/circuit/%E0%A4%A', auth, 400, 'bad-request'],
    ['an unknown permit', 'POST', '/permits/AAAAAAAAAAAAAAAAAAAAAA/success', auth, 404, 'unknown-permit'],
    ['a malformed permit', 'POST', '/permits/../success', auth, 404, 'unknown-permit'],
    ['a permit path without an outcome', 'POST', '/permits/AAAAAAAAAAAAAAAAAAAAAA', auth, 404, 'not-found'],
    ['manual control while disabled', 'POST', '/circuit/a/force-open', auth, 403, 'admin-disabled'],
  ])('refuses %s with a JSON error', async (_what, method, path, headers, status, code) => {
    const answer = await call(extension.port, method, path, { headers })
    expect(answer.status).toBe(status)
    expect(answer.body).toEqual({ error: { code, message: expect.any(String) } })
  })

  it('accepts a circuit id of 256 characters and /health without the token', async () => {
    expect((await call(extension.port, 'GET', `/circuit/${'a'.repeat(256)}`, { headers: auth })).status).toBe(200)
    expect((await call(extension.port, 'GET', '/health')).status).toBe(200)
  })

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    const answer = await call(extension.port, 'DELETE', '/circuit/a', { headers: auth })
    expect(answer.status).toBe(405)
    expect(answer.headers.allow).toBe('GET')
    expect(answer.body).toMatchObject({ error: { code: 'method-not-allowed' } })
  })

  it('refuses bodies that are too large, not JSON, or not an object', async () => {
    const big = await call(extension.port, 'POST', '/circuit/a/admit', { headers: auth, body: 'x'.repeat(5_000) })
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'body-too-large' } } })
    const chunked = await call(extension.port, 'POST', '/circuit/a/admit', {
      headers: { ...auth, 'Transfer-Encoding': 'chunked' },
      body: Buffer.alloc(10_000, 'y'),
    })
    expect(chunked).toMatchObject({ status: 413, body: { error: { code: 'body-too-large' } } })
    const json = { ...auth, 'Content-Type': 'application/json' }
    expect(await call(extension.port, 'POST', '/circuit/a/admit', { headers: json, body: '{"x":' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid-json' } },
    })
    expect(await call(extension.port, 'POST', '/circuit/a/admit', { headers: json, body: '[1,2]' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid-body' } },
    })
    expect(
      await call(extension.port, 'POST', '/circuit/a/admit', {
        headers: { ...auth, 'Content-Type': 'text/plain' },
        body: 'hello',
      }),
    ).toMatchObject({ status: 415, body: { error: { code: 'unsupported-media-type' } } })
  })

  it('answers malformed HTTP and oversized headers with JSON errors, and keeps serving', async () => {
    const garbage = await rawExchange(extension.port, 'GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n')
    expect(garbage).toMatch(/^HTTP\/1\.1 400/)
    expect(garbage).toContain('"code":"bad-request"')
    const huge = await rawExchange(
      extension.port,
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'z'.repeat(20_000)}\r\n\r\n`,
    )
    expect(huge).toMatch(/^HTTP\/1\.1 431/)
    const absolute = await rawExchange(
      extension.port,
      `GET http://evil.example.com/circuit/a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fleet-Breaker-Token: ${token}\r\nConnection: close\r\n\r\n`,
    )
    expect(absolute).toMatch(/^HTTP\/1\.1 400/)
    const health = await call(extension.port, 'GET', '/health')
    expect(health.body).toMatchObject({ status: 'ok' })
  })
})

describe('the extension configured wrongly', () => {
  it('reports init/error naming the variable and exits 1', async () => {
    const lambda = await harness.emulator()
    const { code } = await runToExit(harness.bundled.file, harness.bundled.args, {
      env: {
        AWS_LAMBDA_RUNTIME_API: lambda.runtimeApi,
        CIRCUIT_BREAKER_STORE: 'memory',
        CIRCUIT_BREAKER_FAILURE_THRESHOLD: 'three',
      },
    })
    expect(code).toBe(1)
    expect(lambda.initErrors).toEqual([
      {
        extensionId: lambda.extensions[0]?.id,
        errorType: 'Extension.ConfigurationError',
        body: expect.objectContaining({
          errorMessage: expect.stringContaining('CIRCUIT_BREAKER_FAILURE_THRESHOLD must be an integer'),
        }),
      },
    ])
  }, 60_000)
})

describe('manual control, when enabled', () => {
  it('forces a circuit open for the fleet and clears it', async () => {
    const { extension, lambda } = await launch(harness.bundled, { CIRCUIT_BREAKER_EXTENSION_ADMIN: 'true' })
    await lambda.invoke()
    const forced = await call(extension.port, 'POST', '/circuit/mail/force-open', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'provider maintenance', durationMs: 60_000 }),
    })
    expect(forced.body).toMatchObject({
      applied: true,
      state: 'OPEN',
      forced: { state: 'OPEN', reason: 'provider maintenance', actor: 'extension:emulated-function' },
    })
    expect((await call(extension.port, 'GET', '/circuit/mail')).body).toMatchObject({
      allowed: false,
      reason: 'forced-open',
    })
    const invalid = await call(extension.port, 'POST', '/circuit/mail/force-open', {
      body: JSON.stringify({ durationMs: -5 }),
    })
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'invalid-body' } } })
    expect((await call(extension.port, 'POST', '/circuit/mail/clear')).body).toMatchObject({ state: 'CLOSED' })
    expect((await call(extension.port, 'GET', '/circuit/mail')).body).toEqual({ allowed: true, state: 'CLOSED' })
  }, 60_000)
})

describe('the bounds of one environment', () => {
  it('drops an idle circuit for a new one, refuses when every circuit is busy, and bounds permits', async () => {
    const { extension, lambda } = await launch(harness.bundled, {
      CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS: '2',
      CIRCUIT_BREAKER_EXTENSION_MAX_PERMITS: '2',
    })
    await lambda.invoke()
    const a = await call(extension.port, 'POST', '/circuit/a/admit')
    const b = await call(extension.port, 'POST', '/circuit/b/admit')
    expect(await call(extension.port, 'POST', '/circuit/c/admit')).toMatchObject({
      status: 503,
      body: { error: { code: 'circuit-limit' } },
    })
    await call(extension.port, 'POST', `/permits/${a.body.permit}/success`)
    const c = await call(extension.port, 'POST', '/circuit/c/admit')
    expect(c.body).toMatchObject({ allowed: true })
    expect(await call(extension.port, 'POST', '/circuit/b/admit')).toMatchObject({
      status: 503,
      body: { error: { code: 'permit-limit' } },
    })
    expect((await call(extension.port, 'GET', '/health')).body).toMatchObject({ circuits: 2, permits: 2 })
    await call(extension.port, 'POST', `/permits/${b.body.permit}/release`)
    expect((await call(extension.port, 'POST', '/circuit/b/admit')).body).toMatchObject({ allowed: true })
  }, 60_000)
})

describe('the Node client', () => {
  it('runs both flows against the extension, and fails open when the extension is gone', async () => {
    const { extension, lambda } = await launch(harness.bundled)
    await lambda.invoke({ requestId: 'node-client-1' })
    const client = new FleetBreakerClient({ baseUrl: extension.baseUrl })
    const value = await client.execute('quotes', async () => 42, { requestId: 'node-client-1' })
    expect(value).toBe(42)
    await expect(
      client.execute('quotes', async () => {
        throw new Error('downstream 503')
      }),
    ).rejects.toThrow('downstream 503')
    await client.recordFailure('quotes')
    const admission = await client.admit('quotes')
    expect(admission).toMatchObject({ allowed: false, state: 'OPEN', reason: 'open' })
    await expect(client.execute('quotes', async () => 1)).rejects.toMatchObject({
      name: 'CircuitRejectedError',
      state: 'OPEN',
    })
    expect(await client.check('quotes')).toMatchObject({ allowed: false, state: 'OPEN' })
    expect(await client.state('quotes')).toMatchObject({ state: 'OPEN', openCount: 1 })

    await extension.kill()
    const gone = new FleetBreakerClient({ baseUrl: extension.baseUrl, timeoutMs: 2_000 })
    expect(await gone.admit('quotes')).toMatchObject({ allowed: true, failedOpen: true })
    expect(await gone.check('quotes')).toMatchObject({ allowed: true, failedOpen: true })
    expect(await gone.execute('quotes', async () => 'through')).toBe('through')
  }, 60_000)
})

const arm64 = emulatedArm64Executable()
describe('the arm64 single executable, under qemu', () => {
  if (arm64 === undefined) {
    it.skip('needs layers/sea-arm64 (pnpm --filter @fleet-breaker/extension package), qemu-aarch64 and an arm64 sysroot', () => {})
    return
  }
  it('registers, admits and settles, and exits on SHUTDOWN: the blob made on x64 serves arm64', async () => {
    const { extension, lambda } = await launch(arm64)
    await lambda.invoke()
    const admitted = await call(extension.port, 'POST', '/circuit/arm64/admit')
    expect(admitted.body).toMatchObject({ allowed: true, state: 'CLOSED' })
    expect((await call(extension.port, 'POST', `/permits/${admitted.body.permit}/success`)).body).toEqual({
      verdict: 'success',
    })
    await lambda.shutdown({ budgetMs: 10_000 })
    expect(await extension.exited).toBe(0)
  }, 120_000)
})

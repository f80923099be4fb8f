import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import type { LambdaEmulator } from '../../../../test-support/lambda-runtime-emulator.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { useExtensionHarness } from '../support/extension-harness.js'
import { call, type ExtensionProcess, transitions } from '../support/extension-process.js'

/*
 * Ten extension processes, each the extension of one execution environment, sharing one store:
 * the guarantees of the library hold through the HTTP API, on Redis and on DynamoDB (dynalite).
 */

const ENVIRONMENTS = 10
const RESET_TIMEOUT_MS = 1_500
const BREAKER_ENV = {
  CIRCUIT_BREAKER_FAILURE_THRESHOLD: String(ENVIRONMENTS),
  CIRCUIT_BREAKER_FAILURE_WINDOW_MS: '600000',
  CIRCUIT_BREAKER_CACHE_TTL_MS: '0',
  CIRCUIT_BREAKER_HALF_OPEN_MAX_PROBES: '2',
  CIRCUIT_BREAKER_HALF_OPEN_SUCCESS_THRESHOLD: '2',
  CIRCUIT_BREAKER_RESET_TIMEOUT_MS: String(RESET_TIMEOUT_MS),
  // Probes hold their slots for the whole test.
  CIRCUIT_BREAKER_PROBE_LEASE_MS: '120000',
  // Generous: ten processes starting at once on a busy two-core machine make first requests slow,
  // and a store call that misses its deadline fails open instead of counting.
  CIRCUIT_BREAKER_STORE_TIMEOUT_MS: '5000',
}

const harness = useExtensionHarness()
let dynamo: LocalDynamoDB
const TABLE = 'extension-fleet'

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
}, 60_000)
afterAll(async () => {
  await dynamo?.stop()
})

function storeEnv(store: 'redis' | 'dynamodb', endpoint?: string): Record<string, string> {
  if (store === 'redis') {
    return {
      CIRCUIT_BREAKER_STORE: 'redis',
      CIRCUIT_BREAKER_REDIS_URL: endpoint ?? testRedisUrl(),
      CIRCUIT_BREAKER_KEY_PREFIX: `extension-test:${randomUUID()}:`,
    }
  }
  return {
    CIRCUIT_BREAKER_STORE: 'dynamodb',
    CIRCUIT_BREAKER_TABLE: TABLE,
    CIRCUIT_BREAKER_KEY_PREFIX: `${randomUUID()}:`,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint ?? dynamo.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  }
}

/** The current test's environments; the harness ends them after the test. */
let fleet: ExtensionProcess[] = []

/** One emulated Lambda per environment, as each execution environment has its own Runtime API. */
async function startFleet(env: Record<string, string>, size = ENVIRONMENTS): Promise<LambdaEmulator[]> {
  const lambdas = await Promise.all(Array.from({ length: size }, () => harness.emulator()))
  fleet = await Promise.all(lambdas.map((lambda) => harness.extension(lambda, env)))
  await Promise.all(lambdas.map((lambda) => lambda.invoke()))
  // Each environment's first store request sets its client up; make it before anything is counted.
  await everyone((extension) => call(extension.port, 'GET', '/circuit/warm-up/state'))
  return lambdas
}

const everyone = <T>(action: (extension: ExtensionProcess) => Promise<T>) => Promise.all(fleet.map(action))
const waitPastReset = () => new Promise((resolve) => setTimeout(resolve, RESET_TIMEOUT_MS + 300))
type Answer = Record<string, unknown>

/**
 * Every environment refused so far asks again, all at once, round after round: the fleet ends with
 * exactly `halfOpenMaxProbes` probes, never more, however the races fall (on DynamoDB an
 * environment that loses a race for a slot is refused as "probes busy" rather than trying the next
 * slot in the same decision, so the slots may fill over two rounds). Returns the admitted ones.
 */
async function probeRounds(ask: (extension: ExtensionProcess) => Promise<Answer>) {
  const admitted: Array<{ extension: ExtensionProcess; answer: Answer }> = []
  for (let round = 0; round < 4; round++) {
    const askers = fleet.filter((extension) => !admitted.some((probe) => probe.extension === extension))
    const answers = await Promise.all(askers.map(async (extension) => ({ extension, answer: await ask(extension) })))
    admitted.push(...answers.filter(({ answer }) => answer.allowed === true))
    for (const { answer } of answers) {
      if (answer.allowed !== true) expect(answer).toMatchObject({ state: 'HALF_OPEN', reason: 'probes-busy' })
    }
    expect(admitted.length).toBeLessThanOrEqual(2)
  }
  return admitted
}

const openedBy = (circuit: string) =>
  fleet.flatMap((extension) => transitions(extension.logs, 'OPEN').filter((entry) => entry.circuitId === circuit))

describe.each(['redis', 'dynamodb'] as const)('ten extensions sharing %s', (store) => {
  it('the permit API: exact counts, one transition, exactly halfOpenMaxProbes probes', async () => {
    await startFleet({ ...BREAKER_ENV, ...storeEnv(store) })
    const circuit = 'payments'
    const port = (i: number) => (fleet[i] as ExtensionProcess).port

    // Nine environments fail at once: nine failures, not fewer.
    await Promise.all(
      fleet.slice(1).map(async (extension) => {
        const { body } = await call(extension.port, 'POST', `/circuit/${circuit}/admit`)
        expect(body).toMatchObject({ allowed: true, isProbe: false })
        await call(extension.port, 'POST', `/permits/${body.permit}/failure`)
      }),
    )
    expect((await call(port(0), 'GET', `/circuit/${circuit}/state`)).body).toMatchObject({
      state: 'CLOSED',
      failures: 9,
    })

    // All ten fail at once: the circuit opens once, by one environment.
    const permits = await everyone(
      async (extension) => (await call(extension.port, 'POST', `/circuit/${circuit}/admit`)).body,
    )
    expect(permits.every((answer) => answer.allowed === true)).toBe(true)
    await Promise.all(permits.map((answer, i) => call(port(i), 'POST', `/permits/${answer.permit}/failure`)))
    expect((await call(port(0), 'GET', `/circuit/${circuit}/state`)).body).toMatchObject({
      state: 'OPEN',
      openCount: 1,
    })
    expect(openedBy(circuit)).toHaveLength(1)

    const refused = await everyone(
      async (extension) => (await call(extension.port, 'POST', `/circuit/${circuit}/admit`)).body,
    )
    expect(refused.every((answer) => answer.allowed === false && answer.permit === undefined)).toBe(true)

    await waitPastReset()
    const admitted = await probeRounds(
      async (extension) => (await call(extension.port, 'POST', `/circuit/${circuit}/admit`)).body,
    )
    expect(admitted).toHaveLength(2)
    expect(admitted.every(({ answer }) => answer.isProbe === true)).toBe(true)

    await Promise.all(
      admitted.map(({ extension, answer }) => call(extension.port, 'POST', `/permits/${answer.permit}/success`)),
    )
    expect((await call(port(0), 'GET', `/circuit/${circuit}/state`)).body).toMatchObject({ state: 'CLOSED' })
    const closings = fleet.flatMap((extension) =>
      transitions(extension.logs, 'CLOSED').filter((entry) => entry.circuitId === circuit),
    )
    expect(closings).toHaveLength(1)
  }, 120_000)

  it('the compatible API: refused checks count nothing; checks admit exactly halfOpenMaxProbes probes', async () => {
    await startFleet({ ...BREAKER_ENV, ...storeEnv(store) })
    const circuit = 'inventory'
    const first = () => (fleet[0] as ExtensionProcess).port

    const checks = await everyone(async (extension) => (await call(extension.port, 'GET', `/circuit/${circuit}`)).body)
    expect(checks.every((answer) => answer.allowed === true && answer.state === 'CLOSED')).toBe(true)
    await everyone((extension) => call(extension.port, 'POST', `/circuit/${circuit}/failure`))
    expect((await call(first(), 'GET', `/circuit/${circuit}/state`)).body).toMatchObject({
      state: 'OPEN',
      openCount: 1,
    })
    expect(openedBy(circuit)).toHaveLength(1)

    const refused = await everyone(async (extension) => (await call(extension.port, 'GET', `/circuit/${circuit}`)).body)
    expect(refused.every((answer) => answer.allowed === false && answer.state === 'OPEN')).toBe(true)
    const late = await everyone(
      async (extension) => (await call(extension.port, 'POST', `/circuit/${circuit}/failure`)).body,
    )
    expect(late.every((answer) => answer.recorded === false)).toBe(true)

    await waitPastReset()
    const probing = await probeRounds(
      async (extension) => (await call(extension.port, 'GET', `/circuit/${circuit}`)).body,
    )
    expect(probing).toHaveLength(2)
    expect(probing.every(({ answer }) => answer.state === 'HALF_OPEN')).toBe(true)
    // An environment that was refused reports a success: it made no probe, so it settles nothing.
    const bystander = fleet.find((extension) => !probing.some((probe) => probe.extension === extension))
    expect((await call(bystander?.port ?? 0, 'POST', `/circuit/${circuit}/success`)).body).toMatchObject({
      recorded: false,
    })
    await Promise.all(probing.map(({ extension }) => call(extension.port, 'POST', `/circuit/${circuit}/success`)))
    expect((await call(first(), 'GET', `/circuit/${circuit}/state`)).body).toMatchObject({ state: 'CLOSED' })
  }, 120_000)

  it('fails open within the store deadline when the store is black-holed', async () => {
    const upstream = store === 'redis' ? new URL(testRedisUrl()) : new URL(dynamo.endpoint)
    const proxy: FaultProxy = await startFaultProxy({
      target: { host: upstream.hostname, port: Number(upstream.port || 6379) },
      protocol: store === 'redis' ? 'resp' : 'http',
    })
    try {
      await startFleet({ ...BREAKER_ENV, ...storeEnv(store, proxy.url), CIRCUIT_BREAKER_STORE_TIMEOUT_MS: '300' }, 1)
      const port = (fleet[0] as ExtensionProcess).port
      expect((await call(port, 'GET', '/circuit/search')).body).toEqual({ allowed: true, state: 'CLOSED' })
      await call(port, 'POST', '/circuit/search/success')

      proxy.blackHole()
      proxy.dropConnections()
      const startedAt = performance.now()
      const check = await call(port, 'GET', '/circuit/search')
      const admit = await call(port, 'POST', '/circuit/search/admit')
      const elapsedMs = performance.now() - startedAt
      expect(check.body).toEqual({ allowed: true, state: 'CLOSED' })
      expect(admit.body).toMatchObject({ allowed: true, permit: expect.any(String) })
      // Two decisions, each bounded by the 300 ms store deadline (generous slack for a busy machine).
      expect(elapsedMs).toBeLessThan(2 * 300 + 3_000)
      expect((await call(port, 'POST', `/permits/${admit.body.permit}/success`)).status).toBe(200)
    } finally {
      await proxy.stop()
    }
  }, 120_000)
})

describe('SHUTDOWN with permits outstanding', () => {
  it('releases them in the shared store before the deadline, so another environment may probe at once', async () => {
    const env = { ...BREAKER_ENV, ...storeEnv('redis'), CIRCUIT_BREAKER_HALF_OPEN_MAX_PROBES: '1' }
    const [lambda] = (await startFleet(env, 2)) as [LambdaEmulator, LambdaEmulator]
    const [leaving, staying] = fleet as [ExtensionProcess, ExtensionProcess]
    for (let i = 0; i < ENVIRONMENTS; i++) await call(staying.port, 'POST', '/circuit/mail/failure')
    expect((await call(staying.port, 'GET', '/circuit/mail/state')).body).toMatchObject({ state: 'OPEN' })
    await waitPastReset()
    const probe = await call(leaving.port, 'POST', '/circuit/mail/admit')
    expect(probe.body).toMatchObject({ allowed: true, isProbe: true })
    expect((await call(leaving.port, 'GET', '/circuit/quotes')).body).toEqual({ allowed: true, state: 'CLOSED' })
    expect((await call(staying.port, 'POST', '/circuit/mail/admit')).body).toMatchObject({ reason: 'probes-busy' })

    const { deadlineMs } = await lambda.shutdown({ budgetMs: 2_000 })
    expect(await leaving.exited).toBe(0)
    expect(Date.now()).toBeLessThan(deadlineMs)
    expect(leaving.logs.find((entry) => entry.message === 'shut down')).toMatchObject({
      permitsReleased: 2,
      closedInTime: true,
    })
    expect((await call(staying.port, 'POST', '/circuit/mail/admit')).body).toMatchObject({
      allowed: true,
      isProbe: true,
    })
  }, 120_000)
})

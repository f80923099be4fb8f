import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CircuitBreaker,
  type CircuitStore,
  type DownstreamOptions,
  isInvalidPermitError,
  MemoryStore,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { checkCircuitTask, isInvalidTaskInputError, recordOutcomeTask } from '@fleet-breaker/lambda'
import { describe, expect, it } from '@jest/globals'
import { runStateMachine, type StateMachineDefinition } from '../support/asl-interpreter.js'

const here = dirname(fileURLToPath(import.meta.url))
const definitionPath = resolve(here, '../../../../examples/step-functions/circuit-breaker.asl.json')
const definition = JSON.parse(readFileSync(definitionPath, 'utf8')) as StateMachineDefinition
const validateAsl = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
  isValid: boolean
  errors: unknown[]
}

const CIRCUIT = 'payment-api'
const silent = { debug() {}, info() {}, warn() {}, error() {} }

describe('the example state machine', () => {
  it('is valid Amazon States Language', () => {
    expect(validateAsl(definition)).toMatchObject({ isValid: true, errors: [] })
  })

  it('would be refused by the validator if a Choice lost its way out', () => {
    const broken = structuredClone(definition) as unknown as { States: Record<string, Record<string, unknown>> }
    delete broken.States.IsAllowed?.Default
    ;(broken.States.IsAllowed as { Choices: unknown[] }).Choices = []
    expect(validateAsl(broken).isValid).toBe(false)
  })
})

/** The two task Lambdas, each with its own breakers (as two functions would have), and a protected task. */
function workflow(store: CircuitStore, clock: ManualClock, breakerOptions: DownstreamOptions = {}) {
  const options = { store, breakerOptions: { cacheTtlMs: 0, now: clock.now, logger: silent, ...breakerOptions } }
  const protectedCalls: unknown[] = []
  let protectedFails = false
  const resources = {
    '${CheckCircuitFunctionArn}': checkCircuitTask(options),
    '${RecordOutcomeFunctionArn}': recordOutcomeTask(options),
    '${ProtectedFunctionArn}': async (input: unknown) => {
      protectedCalls.push(input)
      if (protectedFails) throw Object.assign(new Error('payments answered 503'), { name: 'PaymentFailed' })
      return { charged: true }
    },
  }
  const fleet = new CircuitBreaker({ circuitId: CIRCUIT, store, ...options.breakerOptions, failureThreshold: 1 })
  return {
    protectedCalls,
    fleet,
    failProtectedTask(fails: boolean) {
      protectedFails = fails
    },
    run: (input: Record<string, unknown>) =>
      runStateMachine(definition, input as never, { resources, wait: (seconds) => clock.advance(seconds * 1_000) }),
    async openCircuit() {
      await expect(
        fleet.execute(() => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))),
      ).rejects.toThrow('down')
      expect((await fleet.getState()).state).toBe('OPEN')
    },
  }
}

describe('every path of the state machine, with the real task handlers', () => {
  it('closed circuit: the task runs, its success is recorded, the execution succeeds', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock)
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 1 } })
    expect(execution.status).toBe('SUCCEEDED')
    expect(execution.path).toEqual([
      'StartRetries',
      'CheckCircuit',
      'IsAllowed',
      'CallProtectedTask',
      'RecordSuccess',
      'Done',
    ])
    expect(execution.output).toMatchObject({
      check: { circuitId: CIRCUIT, allowed: true, state: 'CLOSED', retryAfterSeconds: 0, permit: { mode: 'counted' } },
      recorded: { outcome: 'success', probe: false },
    })
    expect(flow.protectedCalls).toEqual([{ order: { id: 1 } }])
  })

  it('closed circuit: a failing task is caught, its failure counted, the execution fails', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock)
    flow.failProtectedTask(true)
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 2 } })
    expect(execution).toMatchObject({ status: 'FAILED', error: 'ProtectedTaskFailed' })
    expect(execution.path).toEqual([
      'StartRetries',
      'CheckCircuit',
      'IsAllowed',
      'CallProtectedTask',
      'RecordFailure',
      'ProtectedTaskFailed',
    ])
    expect((await flow.fleet.getState()).failures).toBe(1)
  })

  it('open circuit: waits retryAfterSeconds, then runs as the probe and its success closes the circuit', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock, { resetTimeoutMs: 20_000 })
    await flow.openCircuit()
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 3 } })
    expect(execution.status).toBe('SUCCEEDED')
    expect(execution.path).toEqual([
      'StartRetries',
      'CheckCircuit',
      'IsAllowed',
      'CanWait',
      'CountWait',
      'WaitForCircuit',
      'CheckCircuit',
      'IsAllowed',
      'CallProtectedTask',
      'RecordSuccess',
      'Done',
    ])
    expect(execution.output).toMatchObject({
      check: { allowed: true, state: 'HALF_OPEN', permit: { mode: 'probe' } },
      recorded: { outcome: 'success', recorded: true, probe: true },
      retry: { waits: 1 },
    })
    expect((await flow.fleet.getState()).state).toBe('CLOSED')
  })

  it('open circuit: a probe that fails reopens it with the backoff', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock, { resetTimeoutMs: 20_000 })
    await flow.openCircuit()
    flow.failProtectedTask(true)
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 4 } })
    expect(execution).toMatchObject({ status: 'FAILED', error: 'ProtectedTaskFailed' })
    const after = await flow.fleet.getState()
    expect(after).toMatchObject({ state: 'OPEN', openCount: 2, retryAfterMs: 40_000 })
  })

  it('open circuit with a retry beyond what the workflow waits: the execution fails as CircuitOpen', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock, { resetTimeoutMs: 600_000 })
    await flow.openCircuit()
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 5 } })
    expect(execution).toMatchObject({ status: 'FAILED', error: 'CircuitOpen' })
    expect(execution.path).toEqual(['StartRetries', 'CheckCircuit', 'IsAllowed', 'CanWait', 'CircuitOpen'])
    expect(flow.protectedCalls).toEqual([])
  })

  it('a circuit that stays open (forced): the workflow waits three times, then fails as CircuitOpen', async () => {
    const clock = new ManualClock()
    const flow = workflow(new MemoryStore(), clock, { resetTimeoutMs: 20_000 })
    await flow.fleet.forceOpen({ reason: 'maintenance' })
    const execution = await flow.run({ circuitId: CIRCUIT, order: { id: 6 } })
    expect(execution).toMatchObject({ status: 'FAILED', error: 'CircuitOpen' })
    expect(execution.path.filter((state) => state === 'WaitForCircuit')).toHaveLength(3)
    expect(flow.protectedCalls).toEqual([])
  })

  it('an input with an invalid circuit id is caught by name and fails as InvalidTaskInputError', async () => {
    const flow = workflow(new MemoryStore(), new ManualClock())
    const execution = await flow.run({ circuitId: ' ', order: { id: 7 } })
    expect(execution).toMatchObject({ status: 'FAILED', error: 'InvalidTaskInputError' })
    expect(execution.path).toEqual(['StartRetries', 'CheckCircuit', 'InvalidInput'])
  })
})

describe('task input errors are typed, named and say what is wrong', () => {
  const store = new MemoryStore()
  const check = checkCircuitTask({ store, circuits: [CIRCUIT] })
  const record = recordOutcomeTask({ store, circuits: [CIRCUIT] })

  it.each([
    ['not an object', 'a string', '(input)'],
    ['no circuit id', {}, 'circuitId'],
    ['a blank circuit id', { circuitId: '  ' }, 'circuitId'],
    ['a circuit id of the wrong kind', { circuitId: 42 }, 'circuitId'],
    ['a circuit the handler does not serve', { circuitId: 'other-api' }, 'circuitId'],
  ])('checkCircuitTask: %s', async (_case, input, field) => {
    const error = await check(input).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(isInvalidTaskInputError(error)).toBe(true)
    expect(error).toMatchObject({ name: 'InvalidTaskInputError', field })
    expect(String((error as Error).message)).toContain(`input.${field}`)
  })

  it.each([
    ['no outcome', { circuitId: CIRCUIT }, 'InvalidTaskInputError', 'outcome'],
    ['an unknown outcome', { circuitId: CIRCUIT, outcome: 'maybe' }, 'InvalidTaskInputError', 'outcome'],
    [
      'a permit that is not an object',
      { circuitId: CIRCUIT, outcome: 'success', permit: 'x' },
      'InvalidPermitError',
      'permit',
    ],
    [
      'a permit of another version',
      { circuitId: CIRCUIT, outcome: 'success', permit: { version: 2 } },
      'InvalidPermitError',
      'version',
    ],
  ])('recordOutcomeTask: %s', async (_case, input, name, field) => {
    const error = await record(input).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toMatchObject({ name, field })
  })

  it('recordOutcomeTask: a permit of another circuit, or a tampered one, is refused', async () => {
    const clock = new ManualClock()
    const other = checkCircuitTask({ store, breakerOptions: { now: clock.now } })
    const { permit } = await other({ circuitId: 'other-api' })
    const foreign = await record({ circuitId: CIRCUIT, outcome: 'failure', permit }).catch((error: unknown) => error)
    expect(isInvalidPermitError(foreign)).toBe(true)
    expect(foreign).toMatchObject({ name: 'InvalidPermitError', field: 'circuitId' })
    const own = await check({ circuitId: CIRCUIT })
    for (const [field, value] of [
      ['generation', -1],
      ['mode', 'admin'],
      ['token', 'not allowed outside a probe'],
      ['incarnation', 'has spaces in it'],
    ] as const) {
      const tampered = { ...own.permit, [field]: value }
      await expect(record({ circuitId: CIRCUIT, outcome: 'failure', permit: tampered })).rejects.toMatchObject({
        name: 'InvalidPermitError',
        field,
      })
    }
  })

  it('recordOutcomeTask without a permit records nothing and says so', async () => {
    await expect(record({ circuitId: CIRCUIT, outcome: 'failure' })).resolves.toEqual({
      circuitId: CIRCUIT,
      outcome: 'failure',
      recorded: false,
      verdict: 'ignored',
      probe: false,
    })
  })
})

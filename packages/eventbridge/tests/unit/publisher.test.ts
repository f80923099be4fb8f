import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge'
import {
  CircuitBreaker,
  CircuitState,
  initialRecord,
  isInvalidConfigurationError,
  MemoryStore,
  type StateChange,
  TransitionReason,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import {
  type CircuitStateChangeDetail,
  EventBridgePublisher,
  STATE_CHANGE_DETAIL_TYPE,
} from '@fleet-breaker/eventbridge'
import { describe, expect, it } from '@jest/globals'
import { mockClient } from 'aws-sdk-client-mock'
import { recordingLogger } from '../../../../test-support/logger.js'

const fails = async (): Promise<never> => {
  throw Object.assign(new Error('downstream answered 503'), { statusCode: 503 })
}
const succeeds = async () => 'ok'

function throttling(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $metadata: { httpStatusCode: 400 },
  })
}

/** A local state change of one circuit, numbered `generation`. */
function change(generation: number, origin: 'local' | 'observed' = 'local'): StateChange {
  return {
    circuitId: `circuit-${generation}`,
    from: CircuitState.CLOSED,
    to: CircuitState.OPEN,
    at: Date.UTC(2026, 0, 1),
    reason: TransitionReason.FAILURE_THRESHOLD,
    origin,
    generation,
    record: { ...initialRecord(`circuit-${generation}`), generation },
  }
}

function sentEntries(mock: ReturnType<typeof mockClient>): PutEventsRequestEntry[][] {
  return mock.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? [])
}

function setup(options: { maxAttempts?: number; maxQueued?: number } = {}) {
  const client = new EventBridgeClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } })
  const mock = mockClient(client)
  const logger = recordingLogger()
  const publisher = new EventBridgePublisher({
    client,
    logger,
    retryDelayMs: 1,
    source: 'checkout.circuits',
    ...options,
  })
  return { client, mock, logger, publisher }
}

describe('EventBridgePublisher', () => {
  it('publishes one event per transition across a fleet of 20 environments', async () => {
    const { client, mock } = setup()
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] })
    const clock = new ManualClock()
    const store = new MemoryStore()
    const publishers = Array.from({ length: 20 }, () => new EventBridgePublisher({ client, retryDelayMs: 1 }))
    const fleet = publishers.map(
      (publisher) =>
        new CircuitBreaker({
          circuitId: 'payment-api',
          store,
          now: clock.now,
          failureThreshold: 3,
          resetTimeoutMs: 1_000,
          cacheTtlMs: 0,
          logger: recordingLogger(),
          observers: [publisher],
        }),
    )
    // The outage: every environment's calls fail until the circuit opens, then all are rejected.
    for (const breaker of fleet) await breaker.execute(fails).catch(() => undefined)
    clock.advance(1_000)
    // Recovery: the first environment's probe closes it; the rest follow.
    for (const breaker of fleet) await breaker.execute(succeeds).catch(() => undefined)
    await Promise.all(publishers.map((publisher) => publisher.flush()))
    const details = sentEntries(mock)
      .flat()
      .map((entry) => JSON.parse(entry.Detail ?? '{}') as CircuitStateChangeDetail)
    expect(details.map((detail) => `${detail.from}>${detail.to}`)).toEqual([
      'CLOSED>OPEN',
      'OPEN>HALF_OPEN',
      'HALF_OPEN>CLOSED',
    ])
    expect(details[0]).toMatchObject({ circuitId: 'payment-api', reason: 'failure-threshold', generation: 1 })
    expect(details[2]).toMatchObject({ reason: 'probe-succeeded', generation: 3 })
    expect(new Date(details[0]?.time ?? '').getTime()).toBe(Date.UTC(2026, 0, 1))
    const [first] = sentEntries(mock).flat()
    expect(first).toMatchObject({ Source: 'fleet-breaker', DetailType: STATE_CHANGE_DETAIL_TYPE })
  })

  it("carries the override's reason and actor when an operator forces the circuit", async () => {
    const { mock, publisher } = setup()
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] })
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore(), observers: [publisher] })
    await breaker.forceOpen({ reason: 'provider maintenance', actor: 'alice' })
    await publisher.flush()
    const [entry] = sentEntries(mock).flat()
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      to: 'OPEN',
      reason: 'forced-open',
      override: { state: 'OPEN', reason: 'provider maintenance', actor: 'alice' },
    })
    expect(entry?.Source).toBe('checkout.circuits')
  })

  it('ignores changes this environment only observed', async () => {
    const { mock, publisher } = setup()
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] })
    publisher.onStateChange(change(1, 'observed'))
    await publisher.flush()
    expect(mock.commandCalls(PutEventsCommand)).toHaveLength(0)
  })

  it('sends at most ten entries per PutEvents request', async () => {
    const { mock, publisher } = setup()
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] })
    for (let generation = 1; generation <= 25; generation++) publisher.onStateChange(change(generation))
    await publisher.flush()
    const batches = sentEntries(mock)
    expect(batches.map((batch) => batch.length)).toEqual([10, 10, 5])
    const generations = batches
      .flat()
      .map((entry) => (JSON.parse(entry.Detail ?? '{}') as { generation: number }).generation)
    expect(generations).toEqual(Array.from({ length: 25 }, (_, index) => index + 1))
  })

  it('retries a throttled request and delivers every event', async () => {
    const { mock, publisher, logger } = setup()
    mock.on(PutEventsCommand).rejectsOnce(throttling()).resolves({ FailedEntryCount: 0, Entries: [] })
    publisher.onStateChange(change(1))
    await publisher.flush()
    expect(sentEntries(mock)).toHaveLength(2)
    expect(logger.at('warn')).toHaveLength(0)
  })

  it('sends again only the entries the service refused for a retryable reason', async () => {
    const { mock, publisher, logger } = setup()
    mock
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' },
          { ErrorCode: 'ValidationException', ErrorMessage: 'bad detail' },
        ],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }] })
    for (let generation = 1; generation <= 3; generation++) publisher.onStateChange(change(generation))
    await publisher.flush()
    const batches = sentEntries(mock)
    expect(batches.map((batch) => batch.length)).toEqual([3, 1])
    expect(JSON.parse(batches[1]?.[0]?.Detail ?? '{}')).toMatchObject({ generation: 2 })
    // The refused entry is given up, and logged once.
    expect(logger.at('warn')).toHaveLength(1)
    expect(logger.at('warn')[0]?.details).toMatchObject({ lostEvents: 1 })
  })

  it('gives up after maxAttempts, logs once per outage, and says when publishing recovers', async () => {
    const { mock, publisher, logger } = setup({ maxAttempts: 2 })
    mock.on(PutEventsCommand).rejects(throttling())
    publisher.onStateChange(change(1))
    await publisher.flush()
    publisher.onStateChange(change(2))
    await publisher.flush()
    expect(sentEntries(mock)).toHaveLength(4)
    expect(logger.at('warn')).toHaveLength(1)
    mock.reset()
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] })
    publisher.onStateChange(change(3))
    await publisher.flush()
    expect(logger.at('info')).toHaveLength(1)
    expect(logger.at('info')[0]?.details).toMatchObject({ lostEvents: 2 })
  })

  it('does not retry a request the service rejects as invalid', async () => {
    const { mock, publisher, logger } = setup()
    mock
      .on(PutEventsCommand)
      .rejects(
        Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } }),
      )
    publisher.onStateChange(change(1))
    await publisher.flush()
    expect(sentEntries(mock)).toHaveLength(1)
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('never blocks a call: events queue in a bounded queue while the service hangs, and flush gives up in time', async () => {
    const { mock, publisher, logger } = setup({ maxQueued: 3 })
    let answer: () => void = () => undefined
    mock.on(PutEventsCommand).callsFake(
      () =>
        new Promise((resolve) => {
          answer = () => resolve({ FailedEntryCount: 0, Entries: [] })
        }),
    )
    publisher.onStateChange(change(1))
    // Sent in the background: the first batch takes the first event off the queue.
    await new Promise((resolve) => setImmediate(resolve))
    for (let generation = 2; generation <= 6; generation++) publisher.onStateChange(change(generation))
    expect(publisher.queued).toBe(3)
    expect(logger.at('warn')).toHaveLength(1)
    await publisher.flush(10)
    answer()
    await new Promise((resolve) => setImmediate(resolve))
    answer()
    await publisher.flush()
    expect(sentEntries(mock).map((batch) => batch.length)).toEqual([1, 3])
  })

  it('rejects bad options with an error naming the option', () => {
    const attempt = (options: Record<string, unknown>) => {
      try {
        new EventBridgePublisher(options)
      } catch (error) {
        return isInvalidConfigurationError(error) ? error.message : 'other error'
      }
      return 'no error'
    }
    expect(attempt({ source: '' })).toContain('source')
    expect(attempt({ maxQueued: 0 })).toContain('maxQueued')
    expect(attempt({ client: {} })).toContain('client')
  })
})

import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge'
import {
  CircuitBreaker,
  CircuitState,
  initialRecord,
  MemoryStore,
  type StateChange,
  TransitionReason,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import {
  type CircuitStateChangeDetail,
  type EventBridgeClientLike,
  EventBridgePublisher,
  MAX_REQUEST_BYTES,
} from '@fleet-breaker/eventbridge'
import { describe, expect, it, jest } from '@jest/globals'
import { mockClient } from 'aws-sdk-client-mock'
import { recordingLogger } from '../../../test-support/logger.js'
import { unhandledRejectionsDuring } from '../../../test-support/unhandled-rejections.js'

jest.setTimeout(60_000)

const OK: PutEventsCommandOutput = { FailedEntryCount: 0, Entries: [], $metadata: {} }

function change(generation: number, forcedReason?: string): StateChange {
  const record = { ...initialRecord(`circuit-${generation}`), generation }
  return {
    circuitId: `circuit-${generation}`,
    from: CircuitState.CLOSED,
    to: CircuitState.OPEN,
    at: Date.UTC(2026, 0, 1),
    reason: forcedReason === undefined ? TransitionReason.FAILURE_THRESHOLD : TransitionReason.FORCED_OPEN,
    origin: 'local',
    generation,
    record:
      forcedReason === undefined
        ? record
        : { ...record, forced: { state: CircuitState.OPEN, reason: forcedReason, since: Date.UTC(2026, 0, 1) } },
  }
}

/** A client that records each request and answers as `answer` says. */
function fakeClient(answer: (entries: PutEventsRequestEntry[], call: number) => Promise<PutEventsCommandOutput>) {
  const requests: PutEventsRequestEntry[][] = []
  const client: EventBridgeClientLike = {
    send: (command) => {
      const entries = command.input.Entries ?? []
      requests.push(entries)
      return answer(entries, requests.length)
    },
  }
  return { client, requests }
}

const generations = (requests: PutEventsRequestEntry[][]) =>
  requests.flat().map((entry) => (JSON.parse(entry.Detail ?? '{}') as CircuitStateChangeDetail).generation)

describe('EventBridgePublisher under attack', () => {
  it('never strands an event queued while the sender is finishing: flush sends it', async () => {
    // An event can arrive at any microtask of the sender's last turn; at some depth it lands after
    // the last batch was taken and before the sender is marked idle.
    for (let depth = 0; depth < 40; depth++) {
      const { client, requests } = fakeClient(async () => OK)
      const publisher = new EventBridgePublisher({ client, logger: recordingLogger(), flushTimeoutMs: 30_000 })
      publisher.onStateChange(change(1))
      let chain = Promise.resolve()
      for (let turn = 0; turn < depth; turn++) chain = chain.then(() => undefined)
      await chain.then(() => publisher.onStateChange(change(2)))
      await publisher.flush(5_000)
      expect({ depth, sent: generations(requests).sort() }).toEqual({ depth, sent: [1, 2] })
    }
  })

  it('abandons a PutEvents request that never answers, so later events still go out', async () => {
    const { client, requests } = fakeClient((_, call) =>
      call === 1 ? new Promise<PutEventsCommandOutput>(() => undefined) : Promise.resolve(OK),
    )
    const logger = recordingLogger()
    const publisher = new EventBridgePublisher({
      client,
      logger,
      requestTimeoutMs: 50,
      retryDelayMs: 1,
      flushTimeoutMs: 30_000,
    })
    publisher.onStateChange(change(1))
    await publisher.flush(10_000)
    publisher.onStateChange(change(2))
    await publisher.flush(10_000)
    // The hung attempt is retried, then the next event goes out: nothing is held up for good.
    expect(generations(requests)).toEqual([1, 1, 2])
    expect(publisher.queued).toBe(0)
  })

  it('passes an abort signal to the client, aborted when a request is abandoned', async () => {
    const signals: AbortSignal[] = []
    const client: EventBridgeClientLike = {
      send: (_command, options) => {
        if (options?.abortSignal !== undefined) signals.push(options.abortSignal)
        return new Promise<PutEventsCommandOutput>(() => undefined)
      },
    }
    const publisher = new EventBridgePublisher({
      client,
      requestTimeoutMs: 20,
      maxAttempts: 1,
      flushTimeoutMs: 30_000,
      logger: recordingLogger(),
    })
    publisher.onStateChange(change(1))
    await publisher.flush(10_000)
    expect(signals).toHaveLength(1)
    expect(signals[0]?.aborted).toBe(true)
  })

  it('cuts an oversized override reason read from the store instead of losing the whole batch', async () => {
    // The real service refuses a request over 256 KB outright, with every entry in it.
    const { client, requests } = fakeClient(async (entries) => {
      const bytes = entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.Detail ?? ''), 0)
      if (bytes > MAX_REQUEST_BYTES) {
        throw Object.assign(new Error('Total size of the entries in the request is over the limit'), {
          name: 'ValidationException',
          $metadata: { httpStatusCode: 400 },
        })
      }
      return OK
    })
    const publisher = new EventBridgePublisher({ client, logger: recordingLogger(), flushTimeoutMs: 30_000 })
    publisher.onStateChange(change(1))
    publisher.onStateChange(change(2, 'x'.repeat(300 * 1024)))
    publisher.onStateChange(change(3))
    await publisher.flush(10_000)
    expect(generations(requests)).toEqual([1, 2, 3])
    const forced = requests.flat().map((entry) => JSON.parse(entry.Detail ?? '{}') as CircuitStateChangeDetail)[1]
    expect(forced?.override?.reason?.length).toBe(1_024)
  })

  it('survives a client that throws synchronously and a logger that throws, without an unhandled rejection', async () => {
    const client: EventBridgeClientLike = {
      send: () => {
        throw new TypeError('client misconfigured')
      },
    }
    const throwingLogger = {
      debug() {},
      info() {
        throw new Error('logger down')
      },
      warn() {
        throw new Error('logger down')
      },
      error() {
        throw new Error('logger down')
      },
    }
    const publisher = new EventBridgePublisher({
      client,
      logger: throwingLogger,
      retryDelayMs: 1,
      maxAttempts: 2,
      flushTimeoutMs: 30_000,
    })
    const clock = new ManualClock()
    const breaker = new CircuitBreaker({
      circuitId: 'payment-api',
      store: new MemoryStore(),
      now: clock.now,
      failureThreshold: 1,
      logger: recordingLogger(),
      observers: [publisher],
      isFailure: () => true,
    })
    const unhandled = await unhandledRejectionsDuring(async () => {
      await expect(
        breaker.execute(async () => {
          throw new Error('down')
        }),
      ).rejects.toThrow('down')
      await expect(breaker.execute(async () => 'ok')).rejects.toThrow(/open/i)
      await publisher.flush(10_000)
    })
    expect(unhandled).toEqual([])
    expect(publisher.queued).toBe(0)
  })

  it('keeps memory bounded, logs once and delivers in order through a burst of 10 000 events and a throttling storm', async () => {
    const client = new EventBridgeClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    })
    const mock = mockClient(client)
    let calls = 0
    mock.on(PutEventsCommand).callsFake(async () => {
      calls++
      if (calls % 2 === 1) {
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        })
      }
      return OK
    })
    const logger = recordingLogger()
    const publisher = new EventBridgePublisher({
      client,
      logger,
      retryDelayMs: 1,
      maxQueued: 50,
      flushTimeoutMs: 30_000,
    })
    for (let generation = 1; generation <= 10_000; generation++) {
      publisher.onStateChange(change(generation))
      expect(publisher.queued).toBeLessThanOrEqual(50)
    }
    await publisher.flush(30_000)
    const sent = mock.commandCalls(PutEventsCommand).filter((_, index) => index % 2 === 1)
    const delivered = sent.flatMap((call) => call.args[0].input.Entries ?? [])
    const order = delivered.map((entry) => (JSON.parse(entry.Detail ?? '{}') as CircuitStateChangeDetail).generation)
    expect(order).toEqual([...order].sort((a, b) => a - b))
    expect(order.length).toBe(50)
    expect(logger.at('warn')).toHaveLength(1)
  })
})

describe('EventBridgePublisher.flush at the end of an invocation', () => {
  it('never waits past flushTimeoutMs, whatever time it is offered', async () => {
    const { client } = fakeClient(() => new Promise<PutEventsCommandOutput>(() => undefined))
    const publisher = new EventBridgePublisher({ client, flushTimeoutMs: 20, requestTimeoutMs: 600_000 })
    publisher.onStateChange(change(1))
    // Offered the ten minutes an invocation may have left: still bounded by flushTimeoutMs.
    await publisher.flush(600_000)
    expect(publisher.queued).toBe(0)
  })
})

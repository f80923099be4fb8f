import {
  type BreakerObserver,
  CircuitBreaker,
  flushObservers,
  isInvalidConfigurationError,
  MemoryStore,
  RejectedBecause,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { fails, rejectionOf, succeeds } from '../unit/support.js'

/** An observer that writes down every event as `kind:detail`. */
function recordingObserver() {
  const events: string[] = []
  const observer: Required<Omit<BreakerObserver, 'flush'>> = {
    onStateChange: (change) => events.push(`state:${change.from}>${change.to}:${change.origin}:${change.reason}`),
    onCallRejected: (event) => events.push(`rejected:${event.reason}${event.wouldReject ? ':shadow' : ''}`),
    onProbeSucceeded: () => events.push('probe:succeeded'),
    onProbeFailed: () => events.push('probe:failed'),
    onFailureCounted: (event) => events.push(`failure${event.slow ? ':slow' : ''}`),
    onFailOpenCall: () => events.push('fail-open'),
    onLocallyOpened: () => events.push('locally-opened'),
    onStoreError: (event) => events.push(`store-error:${event.operation}`),
    onStoreLatency: (event) => {
      if (!(event.durationMs >= 0)) throw new Error(`bad latency ${event.durationMs}`)
      events.push(`latency:${event.operation}:${event.ok ? 'ok' : 'failed'}`)
    },
  }
  return { events, observer }
}

function setup(options: { observers?: BreakerObserver[]; maxConcurrent?: number; maxQueued?: number } = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const logger = recordingLogger()
  const { events, observer } = recordingObserver()
  const breaker = new CircuitBreaker({
    circuitId: 'payment-api',
    store,
    now: clock.now,
    logger,
    failureThreshold: 2,
    resetTimeoutMs: 1_000,
    observers: [observer, ...(options.observers ?? [])],
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
    ...(options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued }),
  })
  return { clock, store, logger, events, breaker }
}

describe('observers', () => {
  it('are told of counted failures, the opening, rejections, the probe and the close, in order', async () => {
    const { clock, events, breaker } = setup()
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(succeeds))
    clock.advance(1_000)
    await breaker.execute(succeeds)
    const interesting = events.filter((event) => !event.startsWith('latency:'))
    expect(interesting).toEqual([
      'failure',
      'failure',
      'state:CLOSED>OPEN:local:failure-threshold',
      `rejected:${RejectedBecause.OPEN}`,
      'state:OPEN>HALF_OPEN:local:retry-due',
      'probe:succeeded',
      'state:HALF_OPEN>CLOSED:local:probe-succeeded',
    ])
    // Every store call was timed.
    expect(events).toContain('latency:get:ok')
    expect(events).toContain('latency:transition:ok')
  })

  it('are told of a failed probe', async () => {
    const { clock, events, breaker } = setup()
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    await rejectionOf(breaker.execute(fails))
    expect(events.filter((event) => event.startsWith('probe:') || event.startsWith('state:'))).toEqual([
      'state:CLOSED>OPEN:local:failure-threshold',
      'state:OPEN>HALF_OPEN:local:retry-due',
      'probe:failed',
      'state:HALF_OPEN>OPEN:local:probe-failed',
    ])
  })

  it('are told of store errors and of calls let through while the store is down (fail-open)', async () => {
    const { store, events, breaker } = setup()
    store.fault = 'error'
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    expect(events).toEqual(['latency:get:failed', 'store-error:get', 'fail-open'])
  })

  it('are told of a rejection by the concurrency limit', async () => {
    const { events, breaker } = setup({ maxConcurrent: 1, maxQueued: 0 })
    let release: (value: string) => void = () => undefined
    const held = new Promise<string>((resolve) => {
      release = resolve
    })
    const running = breaker.execute(() => held)
    await rejectionOf(breaker.execute(succeeds))
    release('ok')
    await running
    expect(events).toContain(`rejected:${RejectedBecause.CONCURRENCY_LIMIT}`)
  })

  it('are told of a rejection because the store is unavailable under fail-closed', async () => {
    const store = new InstrumentedStore(new MemoryStore())
    const { events, observer } = recordingObserver()
    const breaker = new CircuitBreaker({
      circuitId: 'payment-api',
      store,
      storeOutage: 'fail-closed',
      logger: recordingLogger(),
      observers: [observer],
    })
    store.fault = 'error'
    await rejectionOf(breaker.execute(succeeds))
    expect(events).toContain(`rejected:${RejectedBecause.STORE_UNAVAILABLE}`)
  })

  it('never break a call when they throw; the failure is logged once per observer', async () => {
    const throwing: BreakerObserver = {
      onFailureCounted: () => {
        throw new Error('observer bug')
      },
    }
    const { logger, events, breaker } = setup({ observers: [throwing] })
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect(events.filter((event) => event === 'failure')).toHaveLength(2)
    const failures = logger.at('error').filter((entry) => entry.message.includes('observer threw'))
    expect(failures).toHaveLength(1)
    expect(failures[0]?.details).toMatchObject({ circuitId: 'payment-api', method: 'onFailureCounted' })
  })

  it('are flushed by flushObservers, which never rejects', async () => {
    const flushed: string[] = []
    const logger = recordingLogger()
    await flushObservers(
      [
        { flush: async () => void flushed.push('a') },
        {},
        {
          flush: async () => {
            throw new Error('network down')
          },
        },
      ],
      logger,
    )
    expect(flushed).toEqual(['a'])
    expect(logger.at('error')).toHaveLength(1)
  })

  it('reject malformed observers and metrics options with an error naming the option', () => {
    const store = new MemoryStore()
    const attempt = (options: Record<string, unknown>) => {
      try {
        new CircuitBreaker({ circuitId: 'x', store, ...options })
      } catch (error) {
        return error
      }
      return undefined
    }
    const notArray = attempt({ observers: { onStateChange() {} } })
    expect(isInvalidConfigurationError(notArray) && notArray.message).toContain('observers')
    const nullObserver = attempt({ observers: [null] })
    expect(isInvalidConfigurationError(nullObserver) && nullObserver.message).toContain('observers[0]')
    const metrics = attempt({ metrics: { addMetric() {} } })
    expect(isInvalidConfigurationError(metrics) && metrics.message).toContain('metrics')
  })

  it('cost nothing on a breaker without any: its options carry an empty list', () => {
    const breaker = new CircuitBreaker({ circuitId: 'x', store: new MemoryStore() })
    expect(breaker.options.observers).toEqual([])
  })
})

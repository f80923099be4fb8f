import { CircuitBreaker, type CircuitBreakerOptions, MemoryStore, type StateChange } from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { recordingLogger } from '../../../../test-support/logger.js'

export { recordingLogger }

/** An error the default classifier counts: the downstream answered 503. */
export class ServiceUnavailable extends Error {
  readonly statusCode = 503
  constructor() {
    super('downstream answered 503')
    this.name = 'ServiceUnavailable'
  }
}

/** An error the default classifier does not count: the request was bad. */
export class BadRequest extends Error {
  readonly statusCode = 400
  constructor() {
    super('downstream answered 400')
    this.name = 'BadRequest'
  }
}

export const fails = async (): Promise<never> => {
  throw new ServiceUnavailable()
}
export const succeeds = async (): Promise<string> => 'ok'

type FleetOptions = Omit<CircuitBreakerOptions<never>, 'store' | 'now'>

/**
 * `size` breakers for one circuit, as in `size` Lambda execution environments, sharing one store
 * and one manual clock; each records the state changes it reports.
 */
export function fleet(size: number, options: FleetOptions = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const logger = recordingLogger()
  const changes: StateChange[] = []
  const breakers = Array.from({ length: size }, () => {
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', logger, ...options, store, now: clock.now })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return breaker
  })
  const [first] = breakers
  if (first === undefined) throw new Error('a fleet needs at least one breaker')
  return { clock, store, logger, changes, breakers, breaker: first }
}

/** Settles `promise` and returns its error (or fails if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

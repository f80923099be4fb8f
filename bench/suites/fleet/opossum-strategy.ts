import CircuitBreaker from 'opossum'
import type { FleetStrategy } from '../../../examples/fleet/strategy.js'
import { callDownstream, DownstreamFailure, ReportedState } from './environment-state.js'

/**
 * opossum counts failures in a rolling window, as a share of the calls in it; it has no count of
 * failures in a row. The closest it comes to "open after `failureThreshold` consecutive failures"
 * is to open when at least that many calls fell in a short window and every one of them failed:
 * a window of one second (ten buckets), `volumeThreshold` = the threshold, and an error
 * percentage above 99 %, which below 100 calls in the window means all of them. At the simulator's
 * five invocations a second per environment a second holds about five calls, so it opens after
 * about five failures in a row, a little later when the arrivals happen to spread out.
 */
export const OPOSSUM_WINDOW_MS = 1_000
const OPOSSUM_WINDOW_BUCKETS = 10
export const OPOSSUM_ERROR_PERCENTAGE = 99

/**
 * opossum, one breaker per environment, each with its state in its own memory: what opossum gives
 * on Lambda. `resetTimeout` is the run's `resetTimeoutMs`; opossum has no backoff, so an open
 * breaker half-opens after that time every time. The call made while it is half-open (opossum
 * lets one through) is reported as the probe.
 *
 * @example
 * ```ts
 * const result = await runFleet(opossumStrategy(), { environments: 50 })
 * ```
 */
export function opossumStrategy(): FleetStrategy {
  return {
    name: 'opossum',
    description: 'opossum, a breaker per environment, each with its state in its own memory',
    async createEnvironment(context) {
      const { settings } = context
      const state = new ReportedState(context)
      const breaker = new CircuitBreaker(
        async (healthy: () => Promise<boolean>) => {
          if (!(await healthy())) throw new DownstreamFailure('the downstream failed')
        },
        {
          errorThresholdPercentage: OPOSSUM_ERROR_PERCENTAGE,
          volumeThreshold: settings.failureThreshold,
          rollingCountTimeout: OPOSSUM_WINDOW_MS,
          rollingCountBuckets: OPOSSUM_WINDOW_BUCKETS,
          resetTimeout: settings.resetTimeoutMs,
          // The call's own deadline (`callTimeoutMs`) applies; opossum's would only stop waiting.
          timeout: false,
          enableSnapshots: false,
          rollingPercentilesEnabled: false,
        },
      )
      breaker.on('open', () => state.move('OPEN', state.current === 'HALF_OPEN' ? 'probe-failed' : 'failure-threshold'))
      breaker.on('halfOpen', () => state.move('HALF_OPEN', 'retry-due'))
      breaker.on('close', () => state.move('CLOSED', 'probe-succeeded'))
      return {
        async call(request) {
          // One call at a time per environment: a call fired while half-open is the one opossum lets through.
          const probe = breaker.halfOpen && breaker.pendingClose
          let called = false
          try {
            await breaker.fire(() => {
              called = true
              return callDownstream(request, settings.callTimeoutMs)
            })
          } catch (error) {
            // Turned away (open, or half-open with its one call out) or the downstream's failure; anything else is a fault.
            const expected = called
              ? error instanceof DownstreamFailure
              : error instanceof Error && CircuitBreaker.isOurError(error)
            if (!expected) throw error
          }
          return called ? { outcome: 'called', probe } : { outcome: 'rejected', probe: false }
        },
        close: async () => breaker.shutdown(),
      }
    },
    close: async () => {},
  }
}

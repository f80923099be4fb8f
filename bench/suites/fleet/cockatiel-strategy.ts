import type { CircuitState } from '@fleet-breaker/core'
import {
  CircuitState as CockatielState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  isBrokenCircuitError,
} from 'cockatiel'
import type { FleetStrategy } from '../../../examples/fleet/strategy.js'
import { callDownstream, DownstreamFailure, ReportedState } from './environment-state.js'

/** cockatiel's states under the names the simulator reports. */
const STATE_NAMES: Readonly<Record<CockatielState, CircuitState | undefined>> = {
  [CockatielState.Closed]: 'CLOSED',
  [CockatielState.Open]: 'OPEN',
  [CockatielState.HalfOpen]: 'HALF_OPEN',
  // Only `isolate()` gives this state, and nothing here calls it.
  [CockatielState.Isolated]: undefined,
}

const REASONS: Readonly<Record<CircuitState, (from: CircuitState) => string>> = {
  OPEN: (from) => (from === 'HALF_OPEN' ? 'probe-failed' : 'failure-threshold'),
  HALF_OPEN: () => 'retry-due',
  CLOSED: () => 'probe-succeeded',
}

/**
 * cockatiel, one policy per environment, each with its state in its own memory: a
 * `ConsecutiveBreaker(failureThreshold)` and `halfOpenAfter` = the run's `resetTimeoutMs` (a
 * constant: no backoff). cockatiel half-opens on the first call after that time and lets that one
 * call through; it is reported as the probe.
 *
 * @example
 * ```ts
 * const result = await runFleet(cockatielStrategy(), { environments: 50 })
 * ```
 */
export function cockatielStrategy(): FleetStrategy {
  return {
    name: 'cockatiel',
    description: 'cockatiel, a breaker per environment, each with its state in its own memory',
    async createEnvironment(context) {
      const { settings } = context
      const state = new ReportedState(context)
      const policy = circuitBreaker(handleAll, {
        halfOpenAfter: settings.resetTimeoutMs,
        breaker: new ConsecutiveBreaker(settings.failureThreshold),
      })
      const subscription = policy.onStateChange((next) => {
        const to = STATE_NAMES[next]
        if (to !== undefined) state.move(to, REASONS[to](state.current))
      })
      return {
        async call(request) {
          let called = false
          let probe = false
          try {
            await policy.execute(async () => {
              called = true
              probe = policy.state === CockatielState.HalfOpen
              if (!(await callDownstream(request, settings.callTimeoutMs))) {
                throw new DownstreamFailure('the downstream failed')
              }
            })
          } catch (error) {
            // Turned away while open, or the downstream's failure; anything else is a fault.
            const expected = called ? error instanceof DownstreamFailure : isBrokenCircuitError(error)
            if (!expected) throw error
          }
          return called ? { outcome: 'called', probe } : { outcome: 'rejected', probe: false }
        },
        close: async () => subscription.dispose(),
      }
    },
    close: async () => {},
  }
}

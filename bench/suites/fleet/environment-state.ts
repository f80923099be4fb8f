import type { CircuitState } from '@fleet-breaker/core'
import type { DownstreamCall, EnvironmentContext } from '../../../examples/fleet/strategy.js'

/** What a per-environment library sees when the downstream answers with a failure. */
export class DownstreamFailure extends Error {
  override readonly name = 'DownstreamFailure'
}

/**
 * Calls the downstream with the run's deadline and says whether it answered 200. Resolves for every
 * outcome: a 503, a refused connection and a timeout all resolve `false`.
 *
 * @example
 * ```ts
 * const healthy = await callDownstream(request, context.settings.callTimeoutMs)
 * ```
 */
export async function callDownstream(request: DownstreamCall, timeoutMs: number): Promise<boolean> {
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(new DOMException('the call timed out', 'TimeoutError')), timeoutMs)
  try {
    const response = await request(deadline.signal)
    return response.status === 200
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/**
 * One environment's breaker state as the simulator should see it: reports every change to
 * `context.onTransition`, once, with its reason and origin.
 *
 * @example
 * ```ts
 * const state = new ReportedState(context)
 * state.move('OPEN', 'failure-threshold')
 * ```
 */
export class ReportedState {
  readonly #context: EnvironmentContext
  #current: CircuitState = 'CLOSED'

  constructor(context: EnvironmentContext) {
    this.#context = context
  }

  get current(): CircuitState {
    return this.#current
  }

  /** Records a change to `to`; a move to the current state is not a change and reports nothing. */
  move(to: CircuitState, reason: string, origin: 'local' | 'observed' = 'local'): void {
    const from = this.#current
    if (from === to) return
    this.#current = to
    this.#context.onTransition({ from, to, reason, origin })
  }
}

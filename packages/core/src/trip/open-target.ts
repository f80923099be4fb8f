import { retryDelayMs } from '../backoff.js'
import type { ResolvedOptions } from '../options.js'
import { CircuitState } from '../state.js'
import type { TransitionTarget } from '../store/contract.js'

/** The OPEN state the `openCount`-th opening since the last close leads to, with its backoff. */
export function openTarget(
  options: Pick<ResolvedOptions, 'resetTimeoutMs' | 'maxResetTimeoutMs'>,
  openCount: number,
): TransitionTarget {
  return {
    state: CircuitState.OPEN,
    openCount,
    retryInMs: retryDelayMs(openCount, options.resetTimeoutMs, options.maxResetTimeoutMs),
  }
}

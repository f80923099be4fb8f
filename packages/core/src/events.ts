import type { Logger } from './logger.js'
import {
  activeOverride,
  activeShadow,
  type CircuitRecord,
  CircuitState,
  type ForcedState,
  type ShadowOverride,
} from './state.js'

/** Why a circuit changed state. */
export const TransitionReason = {
  /** `failureThreshold` failures were counted. */
  FAILURE_THRESHOLD: 'failure-threshold',
  /** The retry time came and a probe took the first lease. */
  RETRY_DUE: 'retry-due',
  /** Enough probes succeeded. */
  PROBE_SUCCEEDED: 'probe-succeeded',
  /** A probe failed; the circuit reopened with a longer backoff. */
  PROBE_FAILED: 'probe-failed',
  /** An operator forced the circuit open. */
  FORCED_OPEN: 'forced-open',
  /** An operator forced the circuit closed. */
  FORCED_CLOSED: 'forced-closed',
  /** An override was cleared or lapsed; the automatic state applies again. */
  OVERRIDE_ENDED: 'override-ended',
  /** An operator reset the circuit. */
  RESET: 'reset',
} as const
export type TransitionReason = (typeof TransitionReason)[keyof typeof TransitionReason]

/**
 * Who made a change: `'local'` when this breaker instance performed the transition (exactly one
 * instance in the fleet does), `'observed'` when this instance learned of a change made elsewhere.
 * Alert on `'local'` changes and the fleet raises one alert per transition, not one per environment.
 */
export type ChangeOrigin = 'local' | 'observed'

/**
 * A change of the state callers experience.
 *
 * @example
 * ```ts
 * breaker.onStateChange((change) => {
 *   if (change.origin === 'local' && change.to === 'OPEN') alert(`${change.circuitId} opened: ${change.reason}`)
 * })
 * ```
 */
export interface StateChange {
  readonly circuitId: string
  readonly from: CircuitState
  readonly to: CircuitState
  /** When this instance made or noticed the change, in epoch milliseconds. */
  readonly at: number
  readonly reason: TransitionReason
  readonly origin: ChangeOrigin
  /**
   * The generation the change started. Unique per transition of a record (with its
   * `record.incarnation`), so a consumer can key alerts on it. A transition confirmed only after the
   * circuit moved on (its answer was lost) is reported late, with its own generation and the newer record.
   */
  readonly generation: number
  /** The record after the change (or, for a transition confirmed late, the newest one known). */
  readonly record: CircuitRecord
  /** The override in force after the change, if any: its state, reason, actor, since and until. */
  readonly forced?: ForcedState
  /** The shadow override in force after the change, if any. */
  readonly shadow?: ShadowOverride
}

/** Receives state changes; see {@link StateChange}. */
export type StateChangeListener = (change: StateChange) => void | Promise<void>

/**
 * The most likely reason for a change this instance observed rather than made, from the state it
 * knew before (`from`, whether an override was in force then, how many generations ago) and the
 * record it learned.
 */
export function inferReason(
  from: CircuitState,
  to: CircuitState,
  record: CircuitRecord,
  now: number,
  wasForced: boolean,
  generationsPassed: number,
): TransitionReason {
  const forced = activeOverride(record, now)
  if (forced !== undefined) {
    return forced.state === CircuitState.OPEN ? TransitionReason.FORCED_OPEN : TransitionReason.FORCED_CLOSED
  }
  if (wasForced) return TransitionReason.OVERRIDE_ENDED
  if (to === CircuitState.HALF_OPEN) return TransitionReason.RETRY_DUE
  if (to === CircuitState.OPEN) {
    return from === CircuitState.HALF_OPEN ? TransitionReason.PROBE_FAILED : TransitionReason.FAILURE_THRESHOLD
  }
  // OPEN to CLOSED in two generations went through HALF_OPEN unseen; in one, it was a reset.
  const probed = from === CircuitState.HALF_OPEN || (from === CircuitState.OPEN && generationsPassed >= 2)
  return probed ? TransitionReason.PROBE_SUCCEEDED : TransitionReason.RESET
}

/** Delivers state changes to listeners; a listener that throws or rejects is logged, never propagated. */
export class StateChangeEmitter {
  /** Made with the first listener: most breakers have none. */
  #listeners: Set<StateChangeListener> | undefined
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  subscribe(listener: StateChangeListener): () => void {
    this.#listeners ??= new Set()
    const listeners = this.#listeners
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  }

  emit(bare: StateChange): void {
    const listeners = this.#listeners
    if (listeners === undefined || listeners.size === 0) return
    const forced = activeOverride(bare.record, bare.at)
    const shadow = activeShadow(bare.record, bare.at)
    const change: StateChange = {
      ...bare,
      ...(forced === undefined ? {} : { forced }),
      ...(shadow === undefined ? {} : { shadow }),
    }
    for (const listener of listeners) {
      try {
        const pending = listener(change)
        if (pending instanceof Promise) pending.catch((error: unknown) => this.#report(change, error))
      } catch (error) {
        this.#report(change, error)
      }
    }
  }

  #report(change: StateChange, error: unknown): void {
    this.#logger.error('fleet-breaker: a state change listener failed', {
      circuitId: change.circuitId,
      from: change.from,
      to: change.to,
      error,
    })
  }
}

import { activeOverride, type CircuitState, type StateChange, type TransitionReason } from '@fleet-breaker/core'

/** The `detail-type` of every event this package publishes. */
export const STATE_CHANGE_DETAIL_TYPE = 'Circuit State Change'

/** The default `source` of the events. */
export const DEFAULT_SOURCE = 'fleet-breaker'

/**
 * The `detail` of a `Circuit State Change` event: one per transition, fleet-wide.
 *
 * @example
 * ```json
 * { "circuitId": "payment-api", "from": "CLOSED", "to": "OPEN", "reason": "failure-threshold",
 *   "time": "2026-01-01T00:00:00.000Z", "generation": 1 }
 * ```
 */
export interface CircuitStateChangeDetail {
  readonly circuitId: string
  readonly from: CircuitState
  readonly to: CircuitState
  readonly reason: TransitionReason
  /** When the transition was made, ISO 8601. */
  readonly time: string
  /** The generation the transition started: it grows by one per transition of the circuit. */
  readonly generation: number
  /** The operator's override, when the transition forced the circuit (or was made while one was in force). */
  readonly override?: { readonly state: CircuitState; readonly reason?: string; readonly actor?: string }
}

/** The longest override reason an event carries, as the breaker takes it; a longer one (bad data in a store) is cut. */
const MAX_OVERRIDE_REASON_LENGTH = 1_024
/** The longest override actor an event carries. */
const MAX_OVERRIDE_ACTOR_LENGTH = 256

/** `text` cut to `length` characters, marked as cut. */
function clip(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`
}

/** The detail of `change`, as published. */
export function detailOf(change: StateChange): CircuitStateChangeDetail {
  const forced = activeOverride(change.record, change.at)
  const override =
    forced === undefined
      ? undefined
      : {
          state: forced.state,
          ...(typeof forced.reason === 'string' ? { reason: clip(forced.reason, MAX_OVERRIDE_REASON_LENGTH) } : {}),
          ...(typeof forced.actor === 'string' ? { actor: clip(forced.actor, MAX_OVERRIDE_ACTOR_LENGTH) } : {}),
        }
  return {
    circuitId: change.circuitId,
    from: change.from,
    to: change.to,
    reason: change.reason,
    time: new Date(change.at).toISOString(),
    generation: change.generation,
    ...(override === undefined ? {} : { override }),
  }
}

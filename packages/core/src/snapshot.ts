import type { ResolvedOptions } from './options.js'
import {
  activeOverride,
  activeShadow,
  type CircuitRecord,
  CircuitState,
  effectiveState,
  type ForcedState,
  type HistoryEntry,
  liveProbes,
  type ShadowOverride,
} from './state.js'

/**
 * A circuit's state at one moment, as {@link CircuitBreaker.getState} reports it.
 *
 * @example
 * ```ts
 * const snapshot = await breaker.getState()
 * // { circuitId: 'payment-api', state: 'OPEN', retryAfterMs: 8200, failures: 0, probesInFlight: 0, ... }
 * ```
 */
export interface CircuitSnapshot {
  readonly circuitId: string
  /** The state callers experience now: a manual override in force wins over the automatic state. */
  readonly state: CircuitState
  /** The automatic state, which an override freezes but does not change. */
  readonly automaticState: CircuitState
  /** The override in force, if any: its state, reason, actor, since and until. */
  readonly forced?: ForcedState
  /**
   * Whether calls are in shadow mode: admitted even where the breaker would reject them (the
   * breaker's `shadow` option, or a shadow override in force). A forced-open circuit still rejects.
   */
  readonly shadow: boolean
  /** The fleet-wide shadow override in force, if any: reason, actor, since and until. */
  readonly shadowOverride?: ShadowOverride
  /** The latest operator action (the last entry of `record.history`), if any. */
  readonly lastAction?: HistoryEntry
  /** Milliseconds until an open circuit admits a probe (0 when not open). */
  readonly retryAfterMs: number
  /** Failures counted in the current window (CLOSED only). */
  readonly failures: number
  /** Successful probes counted (HALF_OPEN only). */
  readonly successes: number
  /** Probe leases currently held (HALF_OPEN only). */
  readonly probesInFlight: number
  /** Opens since the circuit last closed. */
  readonly openCount: number
  /** When the automatic state (or an override) last changed, in epoch milliseconds (0 if never). */
  readonly changedAt: number
  /** When an open circuit admits a probe, in epoch milliseconds (OPEN only, no override in force). */
  readonly retryAt?: number
  /** `'store'` when just read from the store, `'cache'` when the store could not be reached. */
  readonly source: 'store' | 'cache'
  /** The record behind this snapshot. */
  readonly record: CircuitRecord
}

/** Describes `record` as it stands at `now`. */
export function toSnapshot(
  record: CircuitRecord,
  now: number,
  source: CircuitSnapshot['source'],
  options: Pick<ResolvedOptions, 'circuitId' | 'resetTimeoutMs'> & { readonly shadow?: boolean },
): CircuitSnapshot {
  const forced = activeOverride(record, now)
  const shadowOverride = activeShadow(record, now)
  const lastAction = record.history?.at(-1)
  const state = effectiveState(record, now)
  let retryAfterMs = 0
  if (forced?.state === CircuitState.OPEN)
    retryAfterMs = forced.until === undefined ? options.resetTimeoutMs : forced.until - now
  else if (forced === undefined && record.state === CircuitState.OPEN) retryAfterMs = Math.max(0, record.retryAt - now)
  return {
    circuitId: options.circuitId,
    state,
    automaticState: record.state,
    ...(forced === undefined ? {} : { forced }),
    shadow: options.shadow === true || shadowOverride !== undefined,
    ...(shadowOverride === undefined ? {} : { shadowOverride }),
    ...(lastAction === undefined ? {} : { lastAction }),
    retryAfterMs,
    failures: record.state === CircuitState.CLOSED ? record.failures : 0,
    successes: record.state === CircuitState.HALF_OPEN ? record.successes : 0,
    probesInFlight: record.state === CircuitState.HALF_OPEN ? liveProbes(record, now).length : 0,
    openCount: record.openCount,
    changedAt: record.changedAt,
    ...(forced === undefined && record.state === CircuitState.OPEN ? { retryAt: record.retryAt } : {}),
    source,
    record,
  }
}

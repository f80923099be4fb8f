import type { TransitionReport } from './strategy.js'

/** A request to the downstream as the calling environment saw it. */
export interface RequestRecord {
  /** When the request was sent and when its answer was read, in milliseconds since the run started. */
  readonly startedAtMs: number
  readonly endedAtMs: number
  /** The HTTP status of the answer; 0 when there was none (refused, reset, timed out). */
  readonly status: number
}

/** One invocation of one environment. */
export interface InvocationRecord {
  readonly environment: number
  /** When the schedule had it arrive; it starts later if the environment was still busy. */
  readonly plannedAtMs: number
  readonly startedAtMs: number
  readonly endedAtMs: number
  /** `'error'`: the strategy itself failed (a fault to investigate, never the downstream's doing). */
  readonly outcome: 'called' | 'rejected' | 'error'
  /** Whether the call was a half-open probe. */
  readonly probe: boolean
  /** The downstream request, when one was made. */
  readonly request?: RequestRecord
}

/** A state change of one environment's breaker. */
export interface TransitionRecord extends TransitionReport {
  readonly environment: number
  /** When it was reported, in milliseconds since the run started. */
  readonly atMs: number
}

/** When each phase actually began and the run ended, in milliseconds since the run started. */
export interface PhaseTimes {
  readonly outageStartedAtMs: number
  readonly recoveredAtMs: number
  readonly endedAtMs: number
}

/** A warning the breakers logged, with how many times. */
export interface WarningCount {
  readonly message: string
  readonly count: number
}

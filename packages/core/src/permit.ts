/** How an admitted call's outcome is recorded. */
export const PermitMode = {
  /** A call in CLOSED: failures are counted against its generation. */
  COUNTED: 'counted',
  /** A half-open probe holding (or, after a lost answer, perhaps holding) a lease. */
  PROBE: 'probe',
  /** Nothing is recorded (forced closed). */
  UNCOUNTED: 'uncounted',
} as const
export type PermitMode = (typeof PermitMode)[keyof typeof PermitMode]

/** Everything about one admitted call, kept with the call rather than on the breaker. */
export interface PermitState {
  readonly mode: PermitMode
  /** The record the call was admitted under: its outcome only counts against it. */
  readonly incarnation: string
  readonly generation: number
  readonly openCount: number
  /** The probe lease's token (probes only). */
  readonly token: string
  readonly signal: AbortSignal | undefined
  /**
   * The number of the local breaker's trial this call was given (0 or absent: none), given back if
   * the call tells nothing of the downstream. Kept in the environment that admitted the call.
   */
  readonly localTrial?: number
  /**
   * Names the failure this permit counts, for a permit carried as JSON and settled elsewhere: a
   * settlement sent again (a retried workflow task) is the same store write and counts once.
   */
  readonly settleId?: string
}

/** How an outcome counted: as a success, as a failure, or not at all. */
export type Verdict = 'success' | 'failure' | 'ignored'

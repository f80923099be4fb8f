import type { CircuitState, ForcedStateName } from '@fleet-breaker/core'

/*
 * What the commands need from the fleet's circuits, and nothing more. Commands speak only to this
 * interface; `admin-control.ts` implements it on the core package's `CircuitAdmin`.
 */

/** An operator's override as the CLI shows it. */
export interface OverrideView {
  readonly state: ForcedStateName
  readonly reason?: string
  /** Who set it, when the store records it. */
  readonly actor?: string
  /** Epoch milliseconds. */
  readonly since: number
  /** Epoch milliseconds; absent: until cleared. */
  readonly until?: number
}

/** One circuit's state at one moment. */
export interface CircuitStatus {
  readonly circuitId: string
  /** What callers experience now: an override in force wins over the automatic state. */
  readonly state: CircuitState
  /** The automatic state, frozen under an override. */
  readonly automaticState: CircuitState
  /** Failures counted in the current window (closed circuits). */
  readonly failures: number
  /** Milliseconds until an open circuit admits a probe; 0 when not open, absent under an open override without end. */
  readonly retryInMs?: number
  /** Probe leases held now (half-open circuits). */
  readonly probesInFlight: number
  readonly override?: OverrideView
  /** Whether the circuit is in shadow mode: its breakers decide and record, but never reject. */
  readonly shadow: boolean
  /** The fleet-wide shadow override in force, if any. */
  readonly shadowOverride?: ShadowView
  /** When the state last changed, epoch milliseconds (0: never). */
  readonly changedAt: number
  /** The latest operator action, if any. */
  readonly lastAction?: HistoryEntry
  /** `false` for a circuit the store holds nothing for (it reads as a fresh closed circuit). */
  readonly exists: boolean
}

/** A fleet-wide shadow override as the CLI shows it. */
export interface ShadowView {
  readonly reason?: string
  readonly actor?: string
  /** Epoch milliseconds. */
  readonly since: number
  /** Epoch milliseconds; absent: until switched off. */
  readonly until?: number
}

/** One entry of a circuit's audit history, newest first. */
export interface HistoryEntry {
  /** Epoch milliseconds. */
  readonly at: number
  /** What was done: `force-open`, `force-close`, `clear`, `reset`, `shadow-on`, `shadow-off`. */
  readonly action: string
  readonly actor?: string
  readonly reason?: string
  /** When the change lapses, for timed overrides. */
  readonly until?: number
}

/** Who makes a change, and why. */
export interface ChangeRequest {
  readonly actor: string
  readonly reason?: string
}

/** An override to set. */
export interface OverrideChange extends ChangeRequest {
  /** Lapses on its own after this long; absent: until cleared. */
  readonly durationMs?: number
}

/** One page of a listing. */
export interface CircuitPage {
  readonly circuits: readonly CircuitStatus[]
  /** Pass back to read the next page; absent on the last one. */
  readonly cursor?: string
}

/**
 * The operations the commands use. Every method fails when the store cannot be reached, with the
 * store's error as the `cause`; `status` answers a circuit the store holds nothing for with
 * `exists: false`.
 */
export interface CircuitControl {
  list(page?: { readonly cursor?: string; readonly limit?: number }): Promise<CircuitPage>
  status(circuitIds: readonly string[]): Promise<CircuitStatus[]>
  forceOpen(circuitId: string, change: OverrideChange): Promise<CircuitStatus>
  forceClose(circuitId: string, change: OverrideChange): Promise<CircuitStatus>
  clearOverride(circuitId: string, change: ChangeRequest): Promise<CircuitStatus>
  reset(circuitId: string, change: ChangeRequest): Promise<CircuitStatus>
  setShadow(circuitId: string, enabled: boolean, change: OverrideChange): Promise<CircuitStatus>
  history(circuitId: string): Promise<readonly HistoryEntry[]>
  /** Closes the store's connections. */
  close(): Promise<void>
}

import type { CircuitView } from './circuit-view.js'
import {
  type CircuitBreakerError,
  type CircuitOpenDetails,
  isCircuitOpenError,
  isStoreUnavailableError,
  RejectionReason,
} from './errors.js'
import type { ObserverHub } from './observe/hub.js'
import type { ResolvedOptions } from './options.js'
import { PermitMode } from './permit.js'
import type { Decision } from './ruling.js'
import { activeOverride, activeShadow, type CircuitRecord, CircuitState, initialRecord } from './state.js'

/*
 * Shadow mode: the breaker decides and records exactly as usual, but a call it would reject is let
 * through and reported as "would reject". Everything about that choice lives here, behind one
 * method the breaker calls where it would reject (`ShadowMode.review`), so whatever wants to watch
 * "would reject" (logs here, metrics elsewhere) hooks in at `#wouldReject`.
 *
 * What a call let through only because of shadow mode may do:
 * - it never becomes a probe and never takes a lease: probes are decided (and contended for) before
 *   the rejection, exactly as without shadow mode, and a call that lost that contest stays a
 *   plain call;
 * - its outcome counts where a call's outcome would have counted: against the closed circuit it
 *   was let through under (a ramp's rejection, a local breaker's, a store outage's), and nowhere
 *   while the circuit is open or half-open, where only probes decide.
 */

/** A call shadow mode let through, as observers see it. */
export interface WouldReject {
  readonly circuitId: string
  /** When, by the breaker's clock. */
  readonly at: number
  /** The error the call would have been rejected with. */
  readonly error: CircuitBreakerError
  /** Why it would have been rejected: a `RejectionReason`, or `'store-unavailable'`. */
  readonly reason: string
  /** Whether its outcome counts (it was let through under a closed circuit). */
  readonly counted: boolean
}

/** At most one "would reject" line per this long per breaker; the lines in between are counted. */
export const WOULD_REJECT_LOG_INTERVAL_MS = 10_000

/**
 * Decides, where the breaker would reject a call, whether shadow mode lets it through instead.
 * One per breaker.
 */
export class ShadowMode {
  readonly #options: ResolvedOptions
  readonly #view: CircuitView
  /** When the last "would reject" line was written (undefined: never), and how many since. */
  #loggedAt: number | undefined
  #unlogged = 0

  /** Told of each call let through that would have been rejected (`CallsWouldReject`). */
  readonly #observers: ObserverHub | undefined

  constructor(options: ResolvedOptions, view: CircuitView, observers?: ObserverHub) {
    this.#options = options
    this.#view = view
    this.#observers = observers
  }

  /** Whether {@link review} would let through a call `refusal` turns away at `now` (it changes nothing). */
  letsThrough(refusal: CircuitOpenDetails, now: number): boolean {
    const record = this.#view.latest ?? initialRecord(this.#options.circuitId)
    return inShadow(record, now, this.#options) && shadows(refusal.reason)
  }

  /**
   * The decision to act on: `decision` itself, unless it is a rejection shadow mode overrides (the
   * `shadow` option, or a shadow override in force in the record), in which case the call is
   * admitted, never as a probe. An operator's force-open and a concurrency limit still reject.
   */
  review(decision: Decision, signal: AbortSignal | undefined): Decision {
    if (decision.admitted) return decision
    const now = this.#options.now()
    const record = this.#view.latest ?? initialRecord(this.#options.circuitId)
    if (!inShadow(record, now, this.#options)) return decision
    const reason = shadowedReason(decision.error)
    if (reason === undefined) return decision
    // Counted only where a call's outcome counts without shadow mode: in a closed circuit.
    const counted = record.state === CircuitState.CLOSED && activeOverride(record, now) === undefined
    this.#wouldReject({ circuitId: this.#options.circuitId, at: now, error: decision.error, reason, counted })
    return {
      admitted: true,
      permit: {
        mode: counted ? PermitMode.COUNTED : PermitMode.UNCOUNTED,
        incarnation: record.incarnation,
        generation: record.generation,
        openCount: record.openCount,
        token: '',
        signal,
      },
    }
  }

  /** Reports a call let through in shadow mode: the hook for whatever observes "would reject". */
  #wouldReject(event: WouldReject): void {
    this.#observers?.rejected(event.error, true)
    this.#log(event)
  }

  /** Logs the first "would reject" at once, then at most one line per interval, with the count in between. */
  #log(event: WouldReject): void {
    if (this.#loggedAt !== undefined && event.at - this.#loggedAt < WOULD_REJECT_LOG_INTERVAL_MS) {
      this.#unlogged++
      return
    }
    const alsoSince = this.#unlogged
    this.#loggedAt = event.at
    this.#unlogged = 0
    this.#options.logger.info('fleet-breaker: shadow mode let through a call the breaker would reject', {
      circuitId: event.circuitId,
      wouldReject: event.reason,
      state: isCircuitOpenError(event.error) ? event.error.state : undefined,
      retryAfterMs: isCircuitOpenError(event.error) ? event.error.retryAfterMs : undefined,
      counted: event.counted,
      // How many more were let through since the previous line (they are not logged one by one).
      alsoSincePreviousLog: alsoSince,
    })
  }
}

/** Whether shadow mode lets through a call an open circuit turns away for `reason`: never an operator's force-open. */
function shadows(reason: RejectionReason): boolean {
  return reason !== RejectionReason.FORCED_OPEN
}

/** The reason shadow mode lets a rejection through, or `undefined` when the rejection stands. */
function shadowedReason(error: CircuitBreakerError): string | undefined {
  if (isCircuitOpenError(error)) return shadows(error.reason) ? error.reason : undefined
  if (isStoreUnavailableError(error)) return 'store-unavailable'
  return undefined
}

/** Whether shadow mode is on for `record` at `now` under `options` (the option, or an override in force). */
export function inShadow(record: CircuitRecord, now: number, options: Pick<ResolvedOptions, 'shadow'>): boolean {
  return options.shadow || activeShadow(record, now) !== undefined
}

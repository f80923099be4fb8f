import { TransitionReason } from '../events.js'
import type { PermitState, Verdict } from '../permit.js'
import { type CircuitRecord, CircuitState, type ClosedRecord } from '../state.js'
import type { TransitionGuard } from '../store/contract.js'
import { windowIsOpen } from '../store/semantics.js'
import { openTarget } from './open-target.js'
import type { TripPolicy, TripPolicyParts } from './policy.js'

/**
 * The count mode (the default): `failureThreshold` failures within `failureWindowMs`, none
 * cleared by a success in between, from at least `minEnvironments` environments, open the circuit.
 * Every failure is one atomic increment; a success writes only to clear failures it knows of.
 */
export class ConsecutiveFailures implements TripPolicy {
  readonly #parts: TripPolicyParts

  constructor(parts: TripPolicyParts) {
    this.#parts = parts
  }

  record(permit: PermitState, verdict: Verdict): Promise<void> | undefined {
    if (verdict === 'failure') return this.#recordFailure(permit)
    if (verdict !== 'success') return undefined
    this.#parts.local.recordSuccess()
    const latest = this.#parts.view.latest
    // A call admitted before the record existed (incarnation '') belongs to the record created
    // since, while nothing has happened to it: its success clears failures as its failure counts.
    const known =
      latest?.state === CircuitState.CLOSED &&
      (latest.incarnation === permit.incarnation || permit.incarnation === '') &&
      latest.generation === permit.generation &&
      latest.failures > 0
    return known ? this.#recordSuccess(permit) : undefined
  }

  tripGuard(record: ClosedRecord, now: number): TransitionGuard | undefined {
    const { failureThreshold, failureWindowMs, minEnvironments } = this.#parts.options
    if (record.failures < failureThreshold || !windowIsOpen(record, now, failureWindowMs)) return undefined
    if (minEnvironments === 1) return { minFailures: failureThreshold }
    if ((record.failingEnvironments?.length ?? 0) < minEnvironments) return undefined
    return { minFailures: failureThreshold, minEnvironments }
  }

  async #recordFailure(permit: PermitState): Promise<void> {
    const { link, local, options } = this.#parts
    const environment = options.minEnvironments > 1 ? options.environmentId : undefined
    let result = await link.addFailure(permit, options.failureWindowMs, environment, permit.settleId)
    if (!result.ok) {
      local.recordFailure(options.now(), this.#parts.view.latest)
      return
    }
    let record: CircuitRecord = result.value
    // The record was lost and created again since the call was admitted, and nothing has happened
    // to the new one yet: the failure belongs to the circuit as it is now, not to a generation of a
    // record that no longer exists. (Once the new record has moved on, its transitions came after
    // this call was admitted, and fence the failure off as usual.)
    if (
      record.state === CircuitState.CLOSED &&
      permit.incarnation !== '' &&
      record.incarnation !== permit.incarnation &&
      record.generation === 0
    ) {
      result = await link.addFailure(record, options.failureWindowMs, environment)
      if (!result.ok) {
        local.recordFailure(options.now(), this.#parts.view.latest)
        return
      }
      record = result.value
    }
    local.clear()
    if (record.state !== CircuitState.CLOSED) return
    if (record.generation !== permit.generation && record.incarnation === permit.incarnation) return
    if (record.incarnation !== permit.incarnation && record.generation !== 0) return
    const now = options.now()
    const guard = this.tripGuard(record, now)
    if (guard === undefined) return
    const opening = await link.transition(record, openTarget(options, 1), guard, {
      reason: TransitionReason.FAILURE_THRESHOLD,
      from: CircuitState.CLOSED,
    })
    // The threshold is reached but the store could not be told: this environment opens itself.
    if (!opening.ok) local.trip(now, record)
  }

  /** Clears the failures this environment knows of. */
  async #recordSuccess(permit: PermitState): Promise<void> {
    const result = await this.#parts.link.resetFailures(permit)
    if (result.ok) this.#parts.local.clear()
  }
}

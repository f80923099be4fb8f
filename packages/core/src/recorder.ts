import { TransitionReason } from './events.js'
import type { LocalBreaker } from './local-breaker.js'
import type { ObserverHub } from './observe/hub.js'
import type { ResolvedOptions } from './options.js'
import { PermitMode, type PermitState, type Verdict } from './permit.js'
import { CircuitState } from './state.js'
import type { StoreLink } from './store-link.js'
import { openTarget } from './trip/open-target.js'
import type { TripPolicy } from './trip/policy.js'

/** What the recorder needs to know. */
export interface RecorderParts {
  readonly options: ResolvedOptions
  readonly link: StoreLink
  readonly local: LocalBreaker
  readonly policy: TripPolicy
  readonly observers: ObserverHub
}

/**
 * Records the outcome of an admitted call: in a closed circuit as the trip policy counts it
 * (against the generation the call was admitted under), for a probe by closing or reopening the
 * circuit under the probe's lease.
 */
export class Recorder {
  readonly #options: ResolvedOptions
  readonly #link: StoreLink
  readonly #local: LocalBreaker
  readonly #policy: TripPolicy
  readonly #observers: ObserverHub

  constructor(parts: RecorderParts) {
    this.#observers = parts.observers
    this.#options = parts.options
    this.#link = parts.link
    this.#local = parts.local
    this.#policy = parts.policy
  }

  /**
   * Records an outcome (`slow`: the call took at least `slowCallDurationMs`). Returns `undefined`,
   * having done everything synchronously, when there is nothing to write: the healthy path costs
   * no promise.
   */
  record(permit: PermitState, verdict: Verdict, slow: boolean): Promise<void> | undefined {
    switch (permit.mode) {
      case PermitMode.UNCOUNTED:
        return undefined
      case PermitMode.PROBE:
        return this.#recordProbe(permit, verdict)
      case PermitMode.COUNTED:
        if (verdict === 'failure') this.#observers.failureCounted(slow)
        return this.#policy.record(permit, verdict, slow)
    }
  }

  async #recordProbe(permit: PermitState, verdict: Verdict): Promise<void> {
    if (verdict !== 'ignored') this.#observers.probeCompleted(verdict === 'success')
    const from = {
      state: CircuitState.HALF_OPEN,
      generation: permit.generation,
      incarnation: permit.incarnation,
    } as const
    const made = { from: CircuitState.HALF_OPEN }
    const { halfOpenSuccessThreshold } = this.#options
    if (verdict === 'failure') {
      const reopening = await this.#link.transition(
        from,
        openTarget(this.#options, permit.openCount + 1),
        { probeToken: permit.token },
        { ...made, reason: TransitionReason.PROBE_FAILED },
      )
      if (reopening.ok || reopening.skipped) {
        if (!reopening.ok) this.#local.recordFailure(this.#options.now())
        return
      }
      // The reopening went unanswered: count the failure here, and give the lease back in case the
      // reopening did not apply (if it did, this changes nothing).
      this.#local.recordFailure(this.#options.now())
      await this.#link.completeProbe(permit.generation, permit.token, false)
      return
    }
    if (verdict === 'success') {
      this.#local.recordSuccess()
      // The success that completes the threshold closes the circuit in the same write, still
      // holding its lease: giving the lease back first would let another environment send a
      // second probe in between.
      const closing = await this.#link.transition(
        from,
        { state: CircuitState.CLOSED },
        halfOpenSuccessThreshold > 1
          ? { probeToken: permit.token, minSuccesses: halfOpenSuccessThreshold - 1 }
          : { probeToken: permit.token },
        { ...made, reason: TransitionReason.PROBE_SUCCEEDED },
      )
      if (closing.ok) {
        if (closing.value.applied) return
        const current = closing.value.record
        if (current.state !== CircuitState.HALF_OPEN || current.generation !== permit.generation) return
      } else if (closing.skipped) {
        return
      }
      // Not applied, or unknown (the answer was lost): counting the success and giving the lease
      // back is then still right, and changes nothing if the close did apply.
    }
    // Not the closing success (or no verdict): count it and give the lease back for the next probe.
    const result = await this.#link.completeProbe(permit.generation, permit.token, verdict === 'success')
    if (!result.ok) return
    const record = result.value
    if (record.state !== CircuitState.HALF_OPEN || record.generation !== permit.generation) return
    // Probes running side by side: the last of them to report may have completed the threshold.
    if (record.successes < halfOpenSuccessThreshold) return
    await this.#link.transition(
      record,
      { state: CircuitState.CLOSED },
      { minSuccesses: halfOpenSuccessThreshold },
      { ...made, reason: TransitionReason.PROBE_SUCCEEDED },
    )
  }
}

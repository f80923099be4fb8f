import { retryDelayMs } from './backoff.js'
import type { CircuitView } from './circuit-view.js'
import { TransitionReason } from './events.js'
import type { LocalBreaker } from './local-breaker.js'
import type { ResolvedOptions } from './options.js'
import { PermitMode, type PermitState, type Verdict } from './permit.js'
import { type CircuitRecord, CircuitState } from './state.js'
import type { TransitionTarget } from './store/contract.js'
import type { StoreLink } from './store-link.js'

/** What the recorder needs to know. */
export interface RecorderParts {
  readonly options: ResolvedOptions
  readonly view: CircuitView
  readonly link: StoreLink
  readonly local: LocalBreaker
}

/**
 * Records the outcome of an admitted call in the store: failures counted against the generation
 * the call was admitted under (opening the circuit at the threshold), a success clearing the
 * count, a probe's verdict closing or reopening the circuit. A healthy call in a closed circuit
 * with nothing counted costs no write. A failure the store did not take is counted by this
 * environment's {@link LocalBreaker}.
 */
export class Recorder {
  readonly #options: ResolvedOptions
  readonly #view: CircuitView
  readonly #link: StoreLink
  readonly #local: LocalBreaker

  constructor(parts: RecorderParts) {
    this.#options = parts.options
    this.#view = parts.view
    this.#link = parts.link
    this.#local = parts.local
  }

  /** Whether recording `verdict` takes a store write; a success in CLOSED with nothing to clear does not. */
  needsWrite(permit: PermitState, verdict: Verdict): boolean {
    switch (permit.mode) {
      case PermitMode.UNCOUNTED:
        return false
      case PermitMode.PROBE:
        return true
      case PermitMode.COUNTED: {
        if (verdict === 'failure') return true
        if (verdict === 'ignored') return false
        const latest = this.#view.latest
        return latest?.state === CircuitState.CLOSED && latest.generation === permit.generation && latest.failures > 0
      }
    }
  }

  /** Records what a call without a store write still tells: a success ends this environment's run of failures. */
  recordLocally(verdict: Verdict): void {
    if (verdict === 'success') this.#local.recordSuccess()
  }

  async record(permit: PermitState, verdict: Verdict): Promise<void> {
    switch (permit.mode) {
      case PermitMode.UNCOUNTED:
        return
      case PermitMode.PROBE:
        return this.#recordProbe(permit, verdict)
      case PermitMode.COUNTED:
        if (verdict === 'failure') return this.#recordFailure(permit)
        if (verdict === 'success') return this.#recordSuccess(permit)
    }
  }

  async #recordFailure(permit: PermitState): Promise<void> {
    const { failureWindowMs } = this.#options
    let result = await this.#link.addFailure(permit.generation, failureWindowMs)
    if (!result.ok) {
      this.#local.recordFailure(this.#options.now())
      return
    }
    let record = result.value
    // The record was lost and created again since the call was admitted, and nothing has happened
    // to the new one yet: the failure belongs to the circuit as it is now, not to a generation of a
    // record that no longer exists. (Once the new record has moved on, its transitions came after
    // this call was admitted, and fence the failure off as usual.)
    if (
      isClosed(record) &&
      permit.incarnation !== '' &&
      record.incarnation !== permit.incarnation &&
      record.generation === 0 &&
      permit.generation !== 0
    ) {
      result = await this.#link.addFailure(record.generation, failureWindowMs)
      if (!result.ok) {
        this.#local.recordFailure(this.#options.now())
        return
      }
      record = result.value
    }
    this.#local.clear()
    const { failureThreshold } = this.#options
    if (!isClosed(record) || record.failures < failureThreshold) return
    if (record.generation !== permit.generation && record.incarnation === permit.incarnation) return
    if (record.incarnation !== permit.incarnation && record.generation !== 0) return
    await this.#link.transition(
      record,
      this.#openTarget(1),
      { minFailures: failureThreshold },
      { reason: TransitionReason.FAILURE_THRESHOLD, from: CircuitState.CLOSED },
    )
  }

  /** Clears the failures this environment knows of (only called when there are some, see {@link needsWrite}). */
  async #recordSuccess(permit: PermitState): Promise<void> {
    this.#local.recordSuccess()
    const result = await this.#link.resetFailures(permit.generation)
    if (result.ok) this.#local.clear()
  }

  async #recordProbe(permit: PermitState, verdict: Verdict): Promise<void> {
    const from = { state: CircuitState.HALF_OPEN, generation: permit.generation } as const
    const made = { from: CircuitState.HALF_OPEN }
    const { halfOpenSuccessThreshold } = this.#options
    if (verdict === 'failure') {
      const reopening = await this.#link.transition(
        from,
        this.#openTarget(permit.openCount + 1),
        { probeToken: permit.token },
        { ...made, reason: TransitionReason.PROBE_FAILED },
      )
      if (!reopening.ok) this.#local.recordFailure(this.#options.now())
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

  #openTarget(openCount: number): TransitionTarget {
    const { resetTimeoutMs, maxResetTimeoutMs } = this.#options
    return {
      state: CircuitState.OPEN,
      openCount,
      retryInMs: retryDelayMs(openCount, resetTimeoutMs, maxResetTimeoutMs),
    }
  }
}

function isClosed(record: CircuitRecord): record is CircuitRecord & { readonly state: typeof CircuitState.CLOSED } {
  return record.state === CircuitState.CLOSED
}

import { randomUUID } from 'node:crypto'
import { TransitionReason } from '../events.js'
import type { PermitState, Verdict } from '../permit.js'
import { CircuitState, type ClosedRecord } from '../state.js'
import type { TransitionGuard } from '../store/contract.js'
import { countWindowIsOpen } from '../store/semantics.js'
import { openTarget } from './open-target.js'
import type { TripPolicy, TripPolicyParts } from './policy.js'

/** Writes whose answers were lost kept to send again; past this the store is down and counts are local. */
const MAX_UNCONFIRMED_WRITES = 8

/** Counts gathered by this environment and not yet in the store, for one generation. */
interface Counts {
  calls: number
  failures: number
  slowCalls: number
}

/** A write of counts whose answer was lost: sent again under the same op id, so it counts once. */
interface Unconfirmed extends Readonly<Counts> {
  readonly opId: string
  readonly generation: number
  readonly incarnation: string
}

/**
 * The failure-rate mode: the circuit opens when, in the fleet's window of `rateWindowMs`, at least
 * `minimumCalls` calls were made and at least `failureRateThreshold` of them failed (or
 * `slowCallRateThreshold` of them were slow), with failures from at least `minEnvironments`
 * environments.
 *
 * Each environment gathers its own counts and adds them to the shared window in one atomic write
 * at most every `rateFlushIntervalMs` while it has traffic, and never when idle; a failure that
 * could open the circuit, by the fleet's totals last seen plus what is gathered here, is written at
 * once. The decision uses the totals the write returns, and the opening is the same
 * generation-fenced transition as in the count mode, guarded by comparisons only (at least the
 * failures and at most the calls that were seen), so the store opens only if the rate still holds.
 */
export class FailureRate implements TripPolicy {
  readonly #parts: TripPolicyParts
  #generation = -1
  #incarnation = ''
  #gathered: Counts = { calls: 0, failures: 0, slowCalls: 0 }
  /** Writes whose answers were lost, oldest first (a few at most: a store that loses more is down). */
  #unconfirmed: Unconfirmed[] = []
  #lastWriteAt = Number.NEGATIVE_INFINITY
  /** Whether the last write failed: failures are then counted by the local breaker as they come. */
  #storeFailing = false

  constructor(parts: TripPolicyParts) {
    this.#parts = parts
  }

  record(permit: PermitState, verdict: Verdict, slow: boolean): Promise<void> | undefined {
    if (verdict === 'ignored') return undefined
    const sameRecord = permit.incarnation === this.#incarnation
    if (sameRecord && permit.generation < this.#generation) return undefined
    if (!sameRecord || permit.generation > this.#generation) {
      // Counts of an earlier generation (or a lost record) belong to a window that no longer exists.
      this.#generation = permit.generation
      this.#incarnation = permit.incarnation
      this.#gathered = { calls: 0, failures: 0, slowCalls: 0 }
      this.#unconfirmed = []
    }
    const gathered = this.#gathered
    const now = this.#parts.options.now()
    gathered.calls++
    if (verdict === 'failure') {
      gathered.failures++
      if (this.#storeFailing) this.#parts.local.recordFailure(now, this.#parts.view.latest)
    } else {
      this.#parts.local.recordSuccess()
    }
    if (slow) gathered.slowCalls++
    const due = now - this.#lastWriteAt >= this.#parts.options.rateFlushIntervalMs
    if (!due && !((verdict === 'failure' || slow) && this.#couldTrip(now))) return undefined
    return this.#write(permit, now, verdict === 'failure')
  }

  tripGuard(record: ClosedRecord, now: number): TransitionGuard | undefined {
    const { failureRateThreshold, slowCallRateThreshold, minimumCalls, rateWindowMs, minEnvironments } =
      this.#parts.options
    const calls = record.calls ?? 0
    if (calls < minimumCalls || !countWindowIsOpen(record, now, rateWindowMs)) return undefined
    const quorum = (record.failingEnvironments?.length ?? 0) >= minEnvironments
    if (failureRateThreshold !== undefined && quorum && record.failures >= failureRateThreshold * calls) {
      const guard = { minCalls: minimumCalls, minFailures: record.failures, maxCalls: calls }
      return minEnvironments === 1 ? guard : { ...guard, minEnvironments }
    }
    const slowCalls = record.slowCalls ?? 0
    if (slowCallRateThreshold !== undefined && slowCalls > 0 && slowCalls >= slowCallRateThreshold * calls) {
      return { minCalls: minimumCalls, minSlowCalls: slowCalls, maxCalls: calls }
    }
    return undefined
  }

  /** Whether the fleet's totals last seen, with what this environment gathered, would open the circuit. */
  #couldTrip(now: number): boolean {
    const latest = this.#parts.view.latest
    const seen =
      latest?.state === CircuitState.CLOSED &&
      latest.generation === this.#generation &&
      countWindowIsOpen(latest, now, this.#parts.options.rateWindowMs)
        ? latest
        : undefined
    const gathered = this.#gathered
    const combined: ClosedRecord = {
      circuitId: '',
      incarnation: '',
      state: CircuitState.CLOSED,
      generation: this.#generation,
      openCount: 0,
      changedAt: 0,
      windowStartedAt: now,
      calls: (seen?.calls ?? 0) + gathered.calls,
      failures: (seen?.failures ?? 0) + gathered.failures,
      slowCalls: (seen?.slowCalls ?? 0) + gathered.slowCalls,
      // The quorum is the store's to judge: this environment may be the one that completes it.
      failingEnvironments: Array.from({ length: this.#parts.options.minEnvironments }, (_, index) => String(index)),
    }
    return this.tripGuard(combined, now) !== undefined
  }

  async #write(permit: PermitState, now: number, failed: boolean): Promise<void> {
    const { link, local, options } = this.#parts
    this.#lastWriteAt = now
    const under = { incarnation: this.#incarnation, generation: this.#generation }
    // First the counts whose answers were lost, each under its own op id: counted once either way.
    for (const previous of this.#unconfirmed.splice(0)) {
      const again = await link.addCounts(under, options.rateWindowMs, previous, options.environmentId, previous.opId)
      if (!again.ok) {
        this.#failed(failed, now)
        if (!again.skipped) this.#unconfirm(previous)
        return
      }
    }
    const counts = { ...this.#gathered }
    this.#gathered = { calls: 0, failures: 0, slowCalls: 0 }
    const opId = randomUUID()
    const result = await link.addCounts(under, options.rateWindowMs, counts, options.environmentId, opId)
    if (!result.ok) {
      if (result.skipped) this.#merge(counts)
      else this.#unconfirm({ ...counts, opId, ...under })
      this.#failed(failed, now)
      return
    }
    this.#storeFailing = false
    local.clear()
    const record = result.value
    if (record.state !== CircuitState.CLOSED || record.generation !== permit.generation) return
    const guard = this.tripGuard(record, options.now())
    if (guard === undefined) return
    await link.transition(record, openTarget(options, 1), guard, {
      reason: TransitionReason.FAILURE_THRESHOLD,
      from: CircuitState.CLOSED,
    })
  }

  /** Keeps a write whose answer was lost, to send again under its op id (the oldest go first past a few). */
  #unconfirm(write: Unconfirmed): void {
    if (write.generation !== this.#generation || write.incarnation !== this.#incarnation) return
    this.#unconfirmed.push(write)
    if (this.#unconfirmed.length > MAX_UNCONFIRMED_WRITES) this.#unconfirmed.shift()
  }

  /** A write failed: until one succeeds, failures are counted by the local breaker as they come. */
  #failed(withFailure: boolean, now: number): void {
    if (withFailure && !this.#storeFailing) this.#parts.local.recordFailure(now, this.#parts.view.latest)
    this.#storeFailing = true
  }

  /** Puts counts that were never sent back with those gathered since. */
  #merge(counts: Counts): void {
    this.#gathered.calls += counts.calls
    this.#gathered.failures += counts.failures
    this.#gathered.slowCalls += counts.slowCalls
  }
}

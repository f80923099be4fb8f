import {
  type Admission,
  BreakerRegistry,
  type CircuitRecord,
  type CircuitSnapshot,
  CircuitState,
  type CircuitStore,
  type DownstreamOptions,
  InvalidConfigurationError,
  isCircuitOpenError,
  liveProbes,
  type PortablePermit,
  parsePortablePermit,
  toPortablePermit,
  type Verdict,
} from '@fleet-breaker/core'
import { InvalidTaskInputError } from '../errors.js'
import { circuitIdOf, inputObject } from './task-input.js'

/** Options of {@link checkCircuitTask} and {@link recordOutcomeTask}. */
export interface TaskHandlerOptions {
  /** The store the fleet's breakers share. */
  readonly store: CircuitStore
  /** The options of the circuits' breakers (the same in both tasks and in every other breaker of the circuit). */
  readonly breakerOptions?: DownstreamOptions
  /** The circuits the workflow may name; any other is an `InvalidTaskInputError`. Default: any. */
  readonly circuits?: readonly string[]
}

/** Input of {@link checkCircuitTask}. */
export interface CheckCircuitInput {
  readonly circuitId: string
}

/** Output of {@link checkCircuitTask}: whether the protected task may run, and the permit to carry to the record task. */
export interface CheckCircuitOutput {
  readonly circuitId: string
  readonly allowed: boolean
  /** The state callers experience (`HALF_OPEN` when this execution is the probe). */
  readonly state: CircuitState
  /** 0 when allowed; else whole seconds (at least 1) until checking again makes sense, for a `Wait` state's `SecondsPath`. */
  readonly retryAfterSeconds: number
  /** Why not allowed: `open`, `probes-busy`, `forced-open`, `ramping`, `locally-open`, `store-unavailable`, `concurrency-limit`. */
  readonly reason?: string
  /** Present when allowed: pass it to the record task unchanged. */
  readonly permit?: PortablePermit
}

/** Input of {@link recordOutcomeTask}. */
export interface RecordOutcomeInput {
  readonly circuitId: string
  /** The check task's `permit`; without one nothing is recorded. */
  readonly permit?: PortablePermit
  readonly outcome: 'success' | 'failure'
  /** The protected task's error (a `Catch` block's `{ Error, Cause }`), for the log. */
  readonly error?: unknown
}

/** Output of {@link recordOutcomeTask}. */
export interface RecordOutcomeOutput {
  readonly circuitId: string
  readonly outcome: 'success' | 'failure'
  /**
   * Whether the outcome counted, as the store had it just before recording (false: no permit, a
   * permit the circuit has moved past — a later generation, a probe whose lease is gone — an
   * uncounted permit, or a store that could not be read).
   */
  readonly recorded: boolean
  readonly verdict: Verdict
  /** Whether the permit was the circuit's probe. */
  readonly probe: boolean
}

/** A Step Functions task handler: the state's input in, its output out. */
export type TaskHandler<O> = (input: unknown) => Promise<O>

/**
 * A Lambda task for Step Functions that asks the circuit whether the protected task may run:
 * input `{ circuitId }`, output `{ circuitId, allowed, state, retryAfterSeconds, permit? }`. The
 * permit is plain JSON; carry it to {@link recordOutcomeTask} through the state's output, so the
 * outcome counts exactly as a live call's would, even when the record task runs in another
 * environment: a probe's outcome decides the circuit only while its lease is held. A bad input
 * throws `InvalidTaskInputError`, which a `Catch` can match by name.
 *
 * The permit holds a probe lease for `probeLeaseMs`: set it above the protected task's longest run
 * (its retries included), or a second execution may probe meanwhile.
 *
 * @example
 * ```ts
 * import { checkCircuitTask } from '@fleet-breaker/lambda'
 * import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
 *
 * export const handler = checkCircuitTask({
 *   store: new DynamoDBStore({ tableName: 'circuit-breakers' }),
 *   breakerOptions: { probeLeaseMs: 120_000 },
 *   circuits: ['payment-api'],
 * })
 * ```
 */
export function checkCircuitTask(options: TaskHandlerOptions): TaskHandler<CheckCircuitOutput> {
  const { breakers, allowed } = prepare(options)
  return async function checkCircuit(input: unknown): Promise<CheckCircuitOutput> {
    const circuitId = circuitIdOf(inputObject(input), allowed)
    const breaker = breakers.get(circuitId)
    return describeAdmission(circuitId, await breaker.admit(), breaker.options.storeRetryIntervalMs)
  }
}

/**
 * A Lambda task for Step Functions that records the protected task's outcome under the permit
 * {@link checkCircuitTask} gave: input `{ circuitId, permit?, outcome: 'success' | 'failure',
 * error? }`. A probe's success closes the circuit, its failure reopens it; a closed circuit counts
 * the failure against the generation the permit was admitted under. A bad input (a permit of
 * another circuit included) throws `InvalidTaskInputError` or `InvalidPermitError`.
 *
 * A record task retried after it recorded (in any environment) changes nothing more: a probe's lease
 * is gone, and a closed circuit's failure is the same store write (the permit's `settleId`), so
 * it counts once — give the record states a `Retry`. (In the failure-rate mode, a replay may count
 * twice.)
 *
 * @example
 * ```ts
 * import { recordOutcomeTask } from '@fleet-breaker/lambda'
 * import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
 *
 * export const handler = recordOutcomeTask({
 *   store: new DynamoDBStore({ tableName: 'circuit-breakers' }),
 *   breakerOptions: { probeLeaseMs: 120_000 },
 *   circuits: ['payment-api'],
 * })
 * ```
 */
export function recordOutcomeTask(options: TaskHandlerOptions): TaskHandler<RecordOutcomeOutput> {
  const { breakers, allowed } = prepare(options)
  return async function recordOutcome(input: unknown): Promise<RecordOutcomeOutput> {
    const fields = inputObject(input)
    const circuitId = circuitIdOf(fields, allowed)
    const { outcome, permit } = fields
    if (outcome !== 'success' && outcome !== 'failure') {
      throw new InvalidTaskInputError({ field: 'outcome', value: outcome, expected: '"success" or "failure"' })
    }
    if (permit === undefined || permit === null) {
      return { circuitId, outcome, recorded: false, verdict: 'ignored', probe: false }
    }
    const breaker = breakers.get(circuitId)
    const carried = parsePortablePermit(permit, circuitId)
    const resumed = breaker.resumePermit(carried)
    const counts = await breaker.getState().then(
      (snapshot) => permitCounts(snapshot, carried, breaker.options.now()),
      () => false,
    )
    const verdict = outcome === 'success' ? await resumed.recordSuccess() : await resumed.recordFailure()
    return { circuitId, outcome, recorded: counts && verdict !== 'ignored', verdict, probe: resumed.isProbe }
  }
}

/** Whether the store's record (just read) still takes `permit`'s outcome, as the recorder would. */
function permitCounts(snapshot: CircuitSnapshot, permit: PortablePermit, now: number): boolean {
  if (snapshot.source !== 'store') return false
  const record: CircuitRecord = snapshot.record
  switch (permit.mode) {
    case 'uncounted':
      return false
    case 'counted':
      if (record.state !== CircuitState.CLOSED) return false
      // A record lost and created again takes the failure while nothing has happened to it yet.
      return record.incarnation === permit.incarnation
        ? record.generation === permit.generation
        : record.generation === 0
    case 'probe':
      return (
        record.state === CircuitState.HALF_OPEN &&
        record.incarnation === permit.incarnation &&
        record.generation === permit.generation &&
        liveProbes(record, now).some((lease) => lease.token === permit.token)
      )
  }
}

function prepare(options: TaskHandlerOptions): { breakers: BreakerRegistry; allowed: ReadonlySet<string> | undefined } {
  if (typeof options !== 'object' || options === null)
    throw new InvalidConfigurationError('options', options, 'an object')
  const { circuits } = options
  if (circuits !== undefined && (!Array.isArray(circuits) || circuits.some((id) => typeof id !== 'string'))) {
    throw new InvalidConfigurationError('circuits', circuits, 'an array of circuit ids')
  }
  const breakers = new BreakerRegistry({ ...options.breakerOptions, store: options.store })
  // Built now, so a bad option fails at deployment's first invocation, not on some later input.
  for (const circuitId of circuits ?? []) breakers.get(circuitId)
  return { breakers, allowed: circuits === undefined ? undefined : new Set(circuits) }
}

function describeAdmission(circuitId: string, admission: Admission, storeRetryIntervalMs: number): CheckCircuitOutput {
  if (admission.admitted) {
    const state = admission.permit.isProbe ? CircuitState.HALF_OPEN : CircuitState.CLOSED
    return { circuitId, allowed: true, state, retryAfterSeconds: 0, permit: toPortablePermit(admission.permit) }
  }
  const { error } = admission
  if (isCircuitOpenError(error)) {
    return {
      circuitId,
      allowed: false,
      state: error.state,
      retryAfterSeconds: seconds(error.retryAfterMs),
      reason: error.reason,
    }
  }
  // The store is unavailable under fail-closed, or this environment's concurrency limit is reached.
  const reason = error.name === 'StoreUnavailableError' ? 'store-unavailable' : 'concurrency-limit'
  const retryAfterMs = reason === 'store-unavailable' ? storeRetryIntervalMs : 1_000
  return { circuitId, allowed: false, state: CircuitState.OPEN, retryAfterSeconds: seconds(retryAfterMs), reason }
}

/** Whole seconds, at least 1: a `Wait` of 0 seconds would spin the workflow. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1_000))
}

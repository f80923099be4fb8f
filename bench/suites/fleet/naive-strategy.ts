import { performance } from 'node:perf_hooks'
import type {
  CallReport,
  DownstreamCall,
  EnvironmentCaller,
  EnvironmentContext,
  FleetStrategy,
  StoreUsage,
} from '../../../examples/fleet/strategy.js'
import { callDownstream, ReportedState } from './environment-state.js'
import { EMPTY_RECORD, type NaiveBackend, type NaiveRecord, type NaiveRecordClient } from './naive-store.js'

/**
 * What the naive breaker's writes did to the shared record, told from the record each write
 * replaced. The breaker itself never sees this: it writes blind.
 */
export interface NaiveAudit {
  /** Writes of a counted failure. */
  readonly failureWrites: number
  /** Failures other environments had counted that such writes overwrote (the count went down or stood still). */
  readonly lostFailures: number
  /** Writes that turned a CLOSED record (or none) OPEN: each is an opening of the circuit. */
  readonly opened: number
  /** Failure writes up to the one that first opened the record (the threshold, were no count lost); 0 if it never opened. */
  readonly failuresToOpen: number
  /** Writes that turned an OPEN or HALF_OPEN record CLOSED without a successful probe. */
  readonly closedWithoutProbe: number
  /** Store round trips (reads and writes), as the environments waited for them, in milliseconds. */
  readonly meanRoundTripMs: number
  readonly maxRoundTripMs: number
}

/** A naive strategy, with the audit of its writes so far. */
export interface NaiveStrategy extends FleetStrategy {
  audit(): NaiveAudit
}

type WriteReason = 'failure' | 'success' | 'failure-threshold' | 'retry-due' | 'probe-succeeded' | 'probe-failed'

interface Decision {
  readonly record: NaiveRecord
  readonly reason: WriteReason
}

/**
 * The shared-state breaker most write-ups describe, as a baseline: every call reads the whole
 * record `{ state, failures, openedAt }` from the shared store, decides on it, calls, and writes the
 * whole record back, with no condition (last writer wins). The same threshold (failures in a row)
 * and reset timeout as the others, no backoff; once the reset timeout has passed, the first
 * environment to notice writes HALF_OPEN, and while the record says HALF_OPEN every call goes
 * through as a probe. A call writes only when it changes the record (a success with no failures
 * counted writes nothing). A failed store read lets the call through without writing.
 *
 * @example
 * ```ts
 * const backend = await startNaiveBackend('dynamodb')
 * const strategy = naiveSharedStrategy(backend)
 * const result = await runFleet(strategy, { environments: 50 })
 * console.log(strategy.audit().lostFailures)
 * await backend.close()
 * ```
 */
export function naiveSharedStrategy(backend: NaiveBackend): NaiveStrategy {
  const audit = { failureWrites: 0, lostFailures: 0, opened: 0, failuresToOpen: 0, closedWithoutProbe: 0 }
  const roundTrips = { count: 0, totalMs: 0, maxMs: 0 }
  const time = (ms: number) => {
    roundTrips.count++
    roundTrips.totalMs += ms
    roundTrips.maxMs = Math.max(roundTrips.maxMs, ms)
  }
  const auditWrite = (decision: Decision, replaced: NaiveRecord | undefined) => {
    const before = replaced ?? EMPTY_RECORD
    const after = decision.record
    if (decision.reason === 'failure' || decision.reason === 'failure-threshold') {
      audit.failureWrites++
      if (before.state === 'CLOSED') audit.lostFailures += Math.max(0, before.failures + 1 - after.failures)
    }
    if (after.state === 'OPEN' && before.state === 'CLOSED') {
      if (audit.opened === 0) audit.failuresToOpen = audit.failureWrites
      audit.opened++
    }
    if (after.state === 'CLOSED' && before.state !== 'CLOSED' && decision.reason !== 'probe-succeeded') {
      audit.closedWithoutProbe++
    }
  }
  return {
    name: `naive shared (${backend.kind})`,
    description: `a read-modify-write breaker sharing one record through ${backend.description}`,
    async createEnvironment(context) {
      const client = timed(await backend.connect(context.circuitId), time)
      return new NaiveEnvironment(context, client, auditWrite)
    },
    audit: () => ({
      ...audit,
      meanRoundTripMs: roundTrips.count === 0 ? 0 : roundTrips.totalMs / roundTrips.count,
      maxRoundTripMs: roundTrips.maxMs,
    }),
    close: async () => {},
  }
}

/** `client`, telling `time` how long each of its round trips took. */
function timed(client: NaiveRecordClient, time: (ms: number) => void): NaiveRecordClient {
  const measure = async <T>(operation: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    try {
      return await operation()
    } finally {
      time(performance.now() - started)
    }
  }
  return {
    read: () => measure(() => client.read()),
    write: (record) => measure(() => client.write(record)),
    close: () => client.close(),
  }
}

/** What a call does with the record it read, its outcome and the time; `undefined`: nothing to write. */
function decide(read: NaiveRecord, healthy: boolean, threshold: number, now: number): Decision | undefined {
  if (read.state === 'HALF_OPEN') {
    return healthy
      ? { record: { ...read, state: 'CLOSED', failures: 0 }, reason: 'probe-succeeded' }
      : { record: { ...read, state: 'OPEN', openedAt: now }, reason: 'probe-failed' }
  }
  if (healthy) return read.failures === 0 ? undefined : { record: { ...read, failures: 0 }, reason: 'success' }
  const failures = read.failures + 1
  return failures >= threshold
    ? { record: { state: 'OPEN', failures, openedAt: now }, reason: 'failure-threshold' }
    : { record: { ...read, failures }, reason: 'failure' }
}

class NaiveEnvironment implements EnvironmentCaller {
  readonly #context: EnvironmentContext
  readonly #client: NaiveRecordClient
  readonly #audit: (decision: Decision, replaced: NaiveRecord | undefined) => void
  readonly #state: ReportedState
  #reads = 0
  #writes = 0

  constructor(
    context: EnvironmentContext,
    client: NaiveRecordClient,
    audit: (decision: Decision, replaced: NaiveRecord | undefined) => void,
  ) {
    this.#context = context
    this.#client = client
    this.#audit = audit
    this.#state = new ReportedState(context)
  }

  async call(request: DownstreamCall): Promise<CallReport> {
    const { settings, logger } = this.#context
    let read: NaiveRecord
    try {
      this.#reads++
      read = (await this.#client.read()) ?? EMPTY_RECORD
    } catch (error) {
      logger.warn(`naive breaker: store read failed, calling without the breaker: ${message(error)}`)
      await callDownstream(request, settings.callTimeoutMs)
      return { outcome: 'called', probe: false }
    }
    // What the environment learns from the record: a change another environment made.
    this.#state.move(read.state, 'read', 'observed')
    if (read.state === 'OPEN') {
      if (Date.now() - read.openedAt < settings.resetTimeoutMs) return { outcome: 'rejected', probe: false }
      const halfOpen: NaiveRecord = { ...read, state: 'HALF_OPEN' }
      await this.#write({ record: halfOpen, reason: 'retry-due' })
      read = halfOpen
    }
    const probe = read.state === 'HALF_OPEN'
    const healthy = await callDownstream(request, settings.callTimeoutMs)
    const decision = decide(read, healthy, settings.failureThreshold, Date.now())
    if (decision !== undefined) await this.#write(decision)
    return { outcome: 'called', probe }
  }

  storeUsage(): StoreUsage {
    return { reads: this.#reads, writes: this.#writes }
  }

  close(): Promise<void> {
    return this.#client.close()
  }

  async #write(decision: Decision): Promise<void> {
    try {
      this.#writes++
      this.#audit(decision, await this.#client.write(decision.record))
      this.#state.move(decision.record.state, decision.reason)
    } catch (error) {
      this.#context.logger.warn(`naive breaker: store write failed: ${message(error)}`)
    }
  }
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error))

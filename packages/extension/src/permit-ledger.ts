import { randomBytes } from 'node:crypto'
import type { CallPermit, Logger, Verdict } from '@fleet-breaker/core'

/** What an HTTP client may do with a permit. */
export const Outcome = { SUCCESS: 'success', FAILURE: 'failure', RELEASE: 'release' } as const
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

/** The invocation a permit belongs to before the first INVOKE: the function's init phase. */
export const INIT_PHASE = 'init'

/**
 * A permit admitted in the last this many milliseconds before an INVOKE is processed, without a
 * request id of its own, is taken to belong to that new invocation: Lambda hands the event to the
 * function and to the extension at the same moment, so the function's first check can arrive
 * just before the extension has read its INVOKE. A permit of the previous invocation caught by
 * this is released one invocation later, which costs nothing.
 */
export const ATTRIBUTION_GRACE_MS = 200

/**
 * How often permits past their invocation's deadline or past `permitTtlMs` are looked for, so a
 * permit nobody settles lapses on time even when no other permit is ever asked for.
 */
export const SWEEP_INTERVAL_MS = 1_000

/**
 * The invocation a permit belongs to when the environment runs several invocations at once and
 * the caller named none: no INVOKE can tell which one admitted it, so only `permitTtlMs` ends it.
 */
export const UNATTRIBUTED = 'unattributed'

/**
 * Invocations whose deadline the ledger remembers when several run at once. An environment taking
 * hundreds of short invocations a second under a 15-minute timeout would otherwise remember
 * hundreds of thousands; past the bound the oldest is forgotten, and a permit that names it later
 * lapses at `permitTtlMs` instead of its deadline.
 */
export const MAX_TRACKED_INVOCATIONS = 10_000

/** The longest delay `setTimeout` takes as given (a longer one fires at once). */
const MAX_TIMER_DELAY_MS = 2_147_483_647

/** Raised when the ledger holds `maxPermits` permits already. */
export class PermitLimitError extends Error {
  constructor(readonly maxPermits: number) {
    super(
      `${maxPermits} permits are outstanding in this environment; settle permits (success, failure or release) ` +
        'or raise CIRCUIT_BREAKER_EXTENSION_MAX_PERMITS',
    )
    this.name = 'PermitLimitError'
  }
}

/** Raised when a permit is admitted after SHUTDOWN began. */
export class LedgerClosedError extends Error {
  constructor() {
    super('the execution environment is shutting down')
    this.name = 'LedgerClosedError'
  }
}

interface Entry {
  readonly id: string
  readonly permit: CallPermit
  readonly circuitId: string
  /** The invocation (request id) the permit belongs to, or {@link INIT_PHASE}. */
  invocation: string
  /** Whether the invocation was named by the caller (exact) or taken as the current one. */
  readonly named: boolean
  readonly admittedAt: number
  /** Admitted by a check of the circuitbreaker-lambda API, settled by the next reported outcome. */
  readonly fromCheck: boolean
}

export interface PermitLedgerOptions {
  readonly maxPermits: number
  readonly permitTtlMs: number
  readonly logger: Logger
  /** The clock, epoch milliseconds. */
  readonly now?: () => number
  /**
   * Whether the environment runs several invocations at once (Lambda Managed Instances set
   * `AWS_LAMBDA_MAX_CONCURRENCY`). Then an INVOKE says nothing about the end of the others: each
   * invocation's permits are released at its own deadline, never at the next INVOKE.
   */
  readonly concurrentInvocations?: boolean
}

/**
 * The permits this environment handed out and that are not settled yet, each tagged with the
 * invocation it was admitted in. Whatever an invocation leaves unsettled is released when it ends:
 * when the next INVOKE arrives (one invocation at a time per environment; with
 * `concurrentInvocations`, never), at its deadline, or at SHUTDOWN; a permit no invocation ends is
 * released after `permitTtlMs`.
 */
export class PermitLedger {
  readonly #options: PermitLedgerOptions
  readonly #now: () => number
  readonly #byId = new Map<string, Entry>()
  /** Checks of the compatible API waiting for an outcome, per circuit, oldest first. */
  readonly #checks = new Map<string, Entry[]>()
  readonly #perCircuit = new Map<string, number>()
  /** Invocations the extension has seen begin, with their deadlines. */
  readonly #seen = new Map<string, number>([[INIT_PHASE, Number.POSITIVE_INFINITY]])
  /** Settlements and releases under way, for a shutdown to wait for. */
  readonly #inFlight = new Set<Promise<unknown>>()
  #current = INIT_PHASE
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined
  #sweepTimer: ReturnType<typeof setInterval> | undefined
  #closed = false

  constructor(options: PermitLedgerOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    if (options.concurrentInvocations === true) this.#current = UNATTRIBUTED
  }

  /**
   * Looks for lapsed permits every {@link SWEEP_INTERVAL_MS} (the timer never keeps the process
   * alive); without it a permit lapses only when another one is asked for.
   */
  startSweeping(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return
    this.#sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.#sweepTimer.unref()
  }

  /** Releases permits past `permitTtlMs` and, with several invocations at once, past their invocation's deadline. */
  sweep(): void {
    this.#expireOld()
    if (this.#options.concurrentInvocations !== true) return
    const now = this.#now()
    for (const [id, deadline] of this.#seen) {
      if (deadline > now) continue
      this.#seen.delete(id)
      this.releaseInvocation(id, 'invocation deadline passed')
    }
  }

  get size(): number {
    return this.#byId.size
  }

  get currentInvocation(): string {
    return this.#current
  }

  /** Whether `circuitId` has permits outstanding. */
  isBusy(circuitId: string): boolean {
    return (this.#perCircuit.get(circuitId) ?? 0) > 0
  }

  /**
   * Keeps `permit` and returns its id. `invocation` is the request id the caller sent, if any.
   * Throws {@link PermitLimitError} (after releasing the permit) when the ledger is full.
   */
  add(permit: CallPermit, options: { invocation?: string; fromCheck?: boolean } = {}): string {
    this.#expireOld()
    if (this.#closed) {
      this.#track(this.#release(permit, 'shutdown'))
      throw new LedgerClosedError()
    }
    if (this.#byId.size >= this.#options.maxPermits) this.#makeRoomForCheck(options.fromCheck === true)
    if (this.#byId.size >= this.#options.maxPermits) {
      this.#track(this.#release(permit, 'ledger full'))
      throw new PermitLimitError(this.#options.maxPermits)
    }
    const id = randomBytes(16).toString('base64url')
    const entry: Entry = {
      id,
      permit,
      circuitId: permit.circuitId,
      invocation: options.invocation ?? this.#current,
      named: options.invocation !== undefined,
      admittedAt: this.#now(),
      fromCheck: options.fromCheck === true,
    }
    this.#byId.set(id, entry)
    this.#perCircuit.set(entry.circuitId, (this.#perCircuit.get(entry.circuitId) ?? 0) + 1)
    if (entry.fromCheck) {
      const queue = this.#checks.get(entry.circuitId)
      if (queue === undefined) this.#checks.set(entry.circuitId, [entry])
      else queue.push(entry)
    }
    return id
  }

  /** Whether a permit id is outstanding. */
  has(id: string): boolean {
    return this.#byId.has(id)
  }

  /**
   * Settles permit `id`. Resolves with how the outcome counted, or `undefined` when the id is not
   * outstanding (never issued, settled already, or released at its invocation's end).
   */
  settle(id: string, outcome: Outcome): Promise<Verdict> | undefined {
    const entry = this.#byId.get(id)
    if (entry === undefined) return undefined
    this.#remove(entry)
    return this.#track(settlePermit(entry.permit, outcome))
  }

  /**
   * Settles the check of the compatible API that `circuitId` has been waiting longest for, a probe
   * first. `undefined` when no check is waiting.
   */
  settleCheck(circuitId: string, outcome: Outcome): Promise<Verdict> | undefined {
    const queue = this.#checks.get(circuitId)
    if (queue === undefined || queue.length === 0) return undefined
    const probe = queue.find((entry) => entry.permit.isProbe)
    const entry = probe ?? (queue[0] as Entry)
    this.#remove(entry)
    return this.#track(settlePermit(entry.permit, outcome))
  }

  /**
   * An invocation begins: permits of earlier invocations are released (except those admitted in
   * the last {@link ATTRIBUTION_GRACE_MS} without a request id, which belong to this one), and this
   * invocation's own are released at its deadline if still outstanding.
   */
  beginInvocation(requestId: string, deadlineMs: number): void {
    if (this.#options.concurrentInvocations === true) {
      // Other invocations may still be running: each ends at its own deadline (see `sweep`).
      this.#seen.delete(INIT_PHASE)
      this.#seen.set(requestId, deadlineMs)
      if (this.#seen.size > MAX_TRACKED_INVOCATIONS) {
        const oldest = this.#seen.keys().next().value
        if (oldest !== undefined) this.#seen.delete(oldest)
      }
      return
    }
    const now = this.#now()
    const previous = this.#current
    for (const entry of this.#byId.values()) {
      if (!entry.named && entry.invocation === previous && now - entry.admittedAt <= ATTRIBUTION_GRACE_MS) {
        entry.invocation = requestId
      }
    }
    this.#seen.set(requestId, deadlineMs)
    this.#current = requestId
    for (const entry of [...this.#byId.values()]) {
      if (entry.invocation !== requestId && this.#seen.has(entry.invocation))
        this.#releaseEntry(entry, 'invocation ended')
    }
    // Only the current invocation can still have permits tagged to it by the extension itself.
    for (const id of this.#seen.keys()) if (id !== requestId) this.#seen.delete(id)
    clearTimeout(this.#deadlineTimer)
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, deadlineMs - now))
    this.#deadlineTimer = setTimeout(() => this.releaseInvocation(requestId, 'invocation deadline passed'), delay)
    this.#deadlineTimer.unref()
  }

  /** Releases every permit of `requestId`. */
  releaseInvocation(requestId: string, why: string): void {
    for (const entry of [...this.#byId.values()]) if (entry.invocation === requestId) this.#releaseEntry(entry, why)
  }

  /**
   * Refuses new permits, releases every outstanding one, and waits for them and for settlements
   * under way until `deadline` (epoch milliseconds). Resolves with how many were still outstanding.
   */
  async close(deadline: number): Promise<number> {
    this.#closed = true
    clearTimeout(this.#deadlineTimer)
    clearInterval(this.#sweepTimer)
    const outstanding = this.#byId.size
    for (const entry of [...this.#byId.values()]) this.#releaseEntry(entry, 'shutdown')
    const remaining = deadline - this.#now()
    if (this.#inFlight.size > 0 && remaining > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        Promise.allSettled([...this.#inFlight]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, remaining)
        }),
      ])
      clearTimeout(timer)
    }
    return outstanding
  }

  /**
   * A caller of the compatible API may never report some outcomes (many report failures only):
   * its unreported checks must not lock every later check out. When the ledger is full, a new
   * check takes the place of the oldest unreported ordinary check (released, counting nothing);
   * probes and permits of the permit API are never displaced.
   */
  #makeRoomForCheck(forCheck: boolean): void {
    if (!forCheck) return
    for (const entry of this.#byId.values()) {
      if (entry.fromCheck && !entry.permit.isProbe) {
        this.#releaseEntry(entry, 'displaced by a newer check (CIRCUIT_BREAKER_EXTENSION_MAX_PERMITS reached)')
        return
      }
    }
  }

  /**
   * Releases the waiting checks of `circuitId` when they are all it has outstanding and none is a
   * probe, so its breaker may make room for another circuit. Whether the circuit is idle now.
   */
  displaceChecksOf(circuitId: string): boolean {
    const checks = this.#checks.get(circuitId) ?? []
    const outstanding = this.#perCircuit.get(circuitId) ?? 0
    if (checks.length !== outstanding || checks.some((entry) => entry.permit.isProbe)) return outstanding === 0
    for (const entry of [...checks])
      this.#releaseEntry(entry, 'displaced by a newer circuit (CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS reached)')
    return true
  }

  #expireOld(): void {
    const limit = this.#now() - this.#options.permitTtlMs
    // The map is in admission order: stop at the first permit young enough.
    for (const entry of this.#byId.values()) {
      if (entry.admittedAt > limit) break
      this.#releaseEntry(entry, 'permit outlived CIRCUIT_BREAKER_EXTENSION_PERMIT_TTL_MS')
    }
  }

  #releaseEntry(entry: Entry, why: string): void {
    this.#remove(entry)
    this.#options.logger.debug('released an unsettled permit', {
      circuitId: entry.circuitId,
      invocation: entry.invocation,
      isProbe: entry.permit.isProbe,
      why,
    })
    this.#track(this.#release(entry.permit, why))
  }

  async #release(permit: CallPermit, why: string): Promise<void> {
    try {
      await permit.release()
    } catch (error) {
      this.#options.logger.warn('could not release a permit', { circuitId: permit.circuitId, why, error })
    }
  }

  #remove(entry: Entry): void {
    if (!this.#byId.delete(entry.id)) return
    const count = (this.#perCircuit.get(entry.circuitId) ?? 1) - 1
    if (count <= 0) this.#perCircuit.delete(entry.circuitId)
    else this.#perCircuit.set(entry.circuitId, count)
    if (entry.fromCheck) {
      const queue = this.#checks.get(entry.circuitId)
      const index = queue?.indexOf(entry) ?? -1
      if (queue !== undefined && index >= 0) queue.splice(index, 1)
      if (queue !== undefined && queue.length === 0) this.#checks.delete(entry.circuitId)
    }
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise)
    const forget = () => this.#inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }
}

function settlePermit(permit: CallPermit, outcome: Outcome): Promise<Verdict> {
  switch (outcome) {
    case Outcome.SUCCESS:
      return permit.recordSuccess()
    case Outcome.FAILURE:
      return permit.recordFailure()
    default:
      return permit.release().then(() => 'ignored' as const)
  }
}

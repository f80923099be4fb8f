import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge'
import {
  type BreakerObserver,
  InvalidConfigurationError,
  jsonConsoleLogger,
  type Logger,
  type StateChange,
} from '@fleet-breaker/core'
import { DEFAULT_SOURCE, detailOf, STATE_CHANGE_DETAIL_TYPE } from './event.js'

/** Most entries one `PutEvents` request takes. */
export const MAX_ENTRIES_PER_REQUEST = 10

/** Most bytes one `PutEvents` request takes, all its entries together (and so one entry). */
export const MAX_REQUEST_BYTES = 256 * 1024

/** Bytes an entry counts for against {@link MAX_REQUEST_BYTES}, as EventBridge counts them. */
export function entrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time === undefined ? 0 : 14
  for (const text of [entry.Source, entry.DetailType, entry.Detail]) {
    if (text !== undefined) size += Buffer.byteLength(text, 'utf8')
  }
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8')
  return size
}

/** The part of an `EventBridgeClient` the publisher uses. */
export interface EventBridgeClientLike {
  send(command: PutEventsCommand, options?: { abortSignal?: AbortSignal }): Promise<PutEventsCommandOutput>
}

/**
 * Options of {@link EventBridgePublisher}.
 *
 * @example
 * ```ts
 * import type { EventBridgePublisherOptions } from '@fleet-breaker/eventbridge'
 *
 * export const options: EventBridgePublisherOptions = { source: 'checkout.circuits', eventBusName: 'ops' }
 * ```
 */
export interface EventBridgePublisherOptions {
  /** The client, created once per execution environment. Default: a new `EventBridgeClient({})`, made at the first event. */
  readonly client?: EventBridgeClientLike
  /** The events' `source`. Default `'fleet-breaker'`. */
  readonly source?: string
  /** The event bus, by name or ARN. Default: the account's default bus. */
  readonly eventBusName?: string
  /** Events kept while they wait to be sent; beyond, new events are dropped (and counted). Default 100. */
  readonly maxQueued?: number
  /** Attempts per batch, the first included, on throttling and server errors. Default 3. */
  readonly maxAttempts?: number
  /** The wait before the second attempt; it doubles for each one after. Default 100 ms. */
  readonly retryDelayMs?: number
  /** The longest {@link EventBridgePublisher.flush} waits, whatever it is passed. Default 2 000 ms. */
  readonly flushTimeoutMs?: number
  /**
   * The longest one `PutEvents` request may take before it is abandoned and counted as a failed
   * attempt: a request that never answers must not hold up every later event. Default 5 000 ms.
   */
  readonly requestTimeoutMs?: number
  /** Where failures go, once per outage. Default: the core's JSON console logger. */
  readonly logger?: Logger
}

/** Errors worth another attempt: throttling, server-side failures, and no answer at all. */
const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
])

function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true
  const name = Reflect.get(error, 'name')
  if (typeof name === 'string' && RETRYABLE_ERROR_CODES.has(name)) return true
  const metadata = Reflect.get(error, '$metadata') as { httpStatusCode?: number } | undefined
  const status = metadata?.httpStatusCode
  // No HTTP status: the request never got an answer (a network error, a timeout).
  return status === undefined || status === 429 || status >= 500
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidConfigurationError(name, value, `an integer of ${min} or more`)
  }
  return value
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * An observer that publishes a `Circuit State Change` event to Amazon EventBridge for every
 * transition this environment made (`origin: 'local'`), so that a rule sees exactly one event per
 * transition, fleet-wide, however many environments noticed it.
 *
 * Publishing never blocks or fails a call: events wait in a bounded queue and are sent in the
 * background, in `PutEvents` batches of at most ten; throttling, server errors and entries the
 * service refused (`FailedEntryCount`) are retried a bounded number of times, then dropped, and a
 * failure is logged once per outage. Lambda freezes an environment when the invocation returns,
 * so call {@link flush} before it does (the Middy middleware does it for you).
 *
 * @example
 * ```ts
 * import { EventBridgeClient } from '@aws-sdk/client-eventbridge'
 * import { CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
 * import { EventBridgePublisher } from '@fleet-breaker/eventbridge'
 *
 * const publisher = new EventBridgePublisher({ client: new EventBridgeClient({}), source: 'checkout.circuits' })
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore(), observers: [publisher] })
 *
 * export const handler = async () => {
 *   try {
 *     return await breaker.execute(() => fetch('https://payments.example/charge'))
 *   } finally {
 *     await publisher.flush()
 *   }
 * }
 * ```
 */
export class EventBridgePublisher implements BreakerObserver {
  readonly #source: string
  readonly #eventBusName: string | undefined
  readonly #maxQueued: number
  readonly #maxAttempts: number
  readonly #retryDelayMs: number
  readonly #flushTimeoutMs: number
  readonly #requestTimeoutMs: number
  readonly #logger: Logger
  #client: EventBridgeClientLike | undefined
  readonly #queue: PutEventsRequestEntry[] = []
  #sending: Promise<void> | undefined
  /** Since when events fail to go out (undefined: they go out), and how many were lost since. */
  #failingSince: number | undefined
  #lost = 0

  constructor(options: EventBridgePublisherOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidConfigurationError('options', options, 'an object')
    }
    const { client, source = DEFAULT_SOURCE, eventBusName, logger = jsonConsoleLogger } = options
    if (client !== undefined && typeof client?.send !== 'function') {
      throw new InvalidConfigurationError('client', client, 'an EventBridgeClient')
    }
    if (typeof source !== 'string' || source.trim() === '' || source.length > 256) {
      throw new InvalidConfigurationError('source', source, 'a non-blank string of at most 256 characters')
    }
    if (eventBusName !== undefined && (typeof eventBusName !== 'string' || eventBusName.trim() === '')) {
      throw new InvalidConfigurationError('eventBusName', eventBusName, 'a non-blank string')
    }
    this.#client = client
    this.#source = source
    this.#eventBusName = eventBusName
    this.#maxQueued = checkCount('maxQueued', options.maxQueued ?? 100, 1)
    this.#maxAttempts = checkCount('maxAttempts', options.maxAttempts ?? 3, 1)
    this.#retryDelayMs = checkCount('retryDelayMs', options.retryDelayMs ?? 100, 0)
    this.#flushTimeoutMs = checkCount('flushTimeoutMs', options.flushTimeoutMs ?? 2_000, 0)
    this.#requestTimeoutMs = checkCount('requestTimeoutMs', options.requestTimeoutMs ?? 5_000, 1)
    this.#logger = logger
  }

  /** Events waiting to be sent. */
  get queued(): number {
    return this.#queue.length
  }

  onStateChange(change: StateChange): void {
    if (change.origin !== 'local') return
    if (this.#queue.length >= this.#maxQueued) {
      this.#failed(1, new Error(`the queue of ${this.#maxQueued} events is full`), change.circuitId)
      return
    }
    const entry: PutEventsRequestEntry = {
      Source: this.#source,
      DetailType: STATE_CHANGE_DETAIL_TYPE,
      Detail: JSON.stringify(detailOf(change)),
      Time: new Date(change.at),
      ...(this.#eventBusName === undefined ? {} : { EventBusName: this.#eventBusName }),
    }
    // One entry the service would refuse must not take the others of its request down with it.
    if (entrySize(entry) > MAX_REQUEST_BYTES) {
      this.#failed(1, new Error(`the event is over ${MAX_REQUEST_BYTES} bytes`), change.circuitId)
      return
    }
    this.#queue.push(entry)
    this.#startSending()
  }

  /** Starts the background sender unless it runs; it restarts itself for events queued as it ended. */
  #startSending(): void {
    if (this.#sending !== undefined) return
    this.#sending = this.#sendAll()
      // Nothing may reject unobserved (a logger that throws, say): it would end the process.
      .catch(() => undefined)
      .finally(() => {
        this.#sending = undefined
        // An event queued after the last batch was taken but before this ran would otherwise wait
        // for the next event, and be lost when the environment is frozen.
        if (this.#queue.length > 0) this.#startSending()
      })
  }

  /**
   * Sends every queued event; resolves when they are sent (or given up), or after `timeoutMs`
   * (the time the caller has left; the Middy middleware passes the invocation's), or after
   * `flushTimeoutMs`, whichever comes first. Never rejects.
   */
  async flush(timeoutMs?: number): Promise<void> {
    // Nothing in flight: the common case at the end of an invocation, answered without a timer.
    if (this.#sending === undefined) return
    const waitMs = Math.min(
      this.#flushTimeoutMs,
      typeof timeoutMs === 'number' && !Number.isNaN(timeoutMs) ? Math.max(0, timeoutMs) : this.#flushTimeoutMs,
    )
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs)
    })
    const drained = (async () => {
      while (this.#sending !== undefined) await this.#sending
    })()
    try {
      await Promise.race([drained, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async #sendAll(): Promise<void> {
    // Off the caller's stack: the call that made the transition goes on at once.
    await Promise.resolve()
    while (this.#queue.length > 0) await this.#sendBatch(this.#nextBatch())
  }

  /** Takes from the queue, in order, the entries of one request: at most ten, at most 256 KB. */
  #nextBatch(): PutEventsRequestEntry[] {
    let count = 0
    let bytes = 0
    for (const entry of this.#queue) {
      const size = entrySize(entry)
      if (count === MAX_ENTRIES_PER_REQUEST || (count > 0 && bytes + size > MAX_REQUEST_BYTES)) break
      count++
      bytes += size
    }
    return this.#queue.splice(0, count)
  }

  /** One `PutEvents` request, abandoned (and counted as an unanswered attempt) after `requestTimeoutMs`. */
  async #put(entries: PutEventsRequestEntry[]): Promise<PutEventsCommandOutput> {
    this.#client ??= new EventBridgeClient({})
    const client = this.#client
    const abort = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`PutEvents did not answer within ${this.#requestTimeoutMs} ms`)
        error.name = 'TimeoutError'
        abort.abort(error)
        reject(error)
      }, this.#requestTimeoutMs)
      // The request's own socket keeps the process alive while it is pending; its time limit need not.
      timer.unref?.()
    })
    try {
      // A client that throws at once is a failed attempt like any other.
      const sent = (async () =>
        client.send(new PutEventsCommand({ Entries: entries }), { abortSignal: abort.signal }))()
      // The abandoned request's late rejection is of no interest.
      sent.catch(() => undefined)
      return await Promise.race([sent, timedOut])
    } finally {
      clearTimeout(timer)
    }
  }

  async #sendBatch(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch
    let lastError: unknown
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      if (attempt > 1) await sleep(this.#retryDelayMs * 2 ** (attempt - 2))
      let output: PutEventsCommandOutput
      try {
        output = await this.#put(pending)
      } catch (error) {
        lastError = error
        if (isRetryable(error)) continue
        break
      }
      if ((output.FailedEntryCount ?? 0) === 0) {
        this.#succeeded()
        return
      }
      // The answer's entries line up with the request's: keep those refused for a reason worth a retry.
      const refused = pending.flatMap((entry, index) => {
        const code = output.Entries?.[index]?.ErrorCode
        return code === undefined ? [] : [{ entry, code, message: output.Entries?.[index]?.ErrorMessage }]
      })
      const retryable = refused.filter(({ code }) => RETRYABLE_ERROR_CODES.has(code))
      const final = refused.length - retryable.length
      const first = refused[0]
      lastError = new Error(
        `PutEvents refused ${refused.length} entries: ${first?.code} ${first?.message ?? ''}`.trim(),
      )
      if (final > 0) this.#failed(final, lastError, undefined)
      pending = retryable.map(({ entry }) => entry)
      if (pending.length === 0) return
    }
    this.#failed(pending.length, lastError, undefined)
  }

  #succeeded(): void {
    if (this.#failingSince === undefined) return
    this.#log('info', 'fleet-breaker: circuit state change events are published again', {
      outageMs: Date.now() - this.#failingSince,
      lostEvents: this.#lost,
    })
    this.#failingSince = undefined
    this.#lost = 0
  }

  /** Events given up: logged at the first failure of an outage, counted after that. */
  #failed(events: number, error: unknown, circuitId: string | undefined): void {
    this.#lost += events
    if (this.#failingSince !== undefined) return
    this.#failingSince = Date.now()
    this.#log('warn', 'fleet-breaker: could not publish circuit state change events; dropping them', {
      ...(circuitId === undefined ? {} : { circuitId }),
      lostEvents: events,
      error,
    })
  }

  /** Logs, never throws: publishing must not fail a call because the logger did. */
  #log(level: 'info' | 'warn', message: string, details: Record<string, unknown>): void {
    try {
      this.#logger[level](message, details)
    } catch {
      // Nothing left to tell.
    }
  }
}

import { type CircuitRecord, CircuitState } from '@fleet-breaker/core'

/*
 * DynamoDB has no clock to decide with in an expression, but every answer carries the service's
 * time in its HTTP `Date` header (whole seconds). A request sent at `sentAt` and answered at
 * `receivedAt` (both on the caller's clock) was handled in between, when the service's clock read
 * somewhere in [Date, Date + 1 s). So the offset `service - caller` lies in
 *
 *     [Date - receivedAt, Date + 1000 - sentAt]
 *
 * Every answer gives one such interval; the true offset lies in all of them, so their intersection
 * narrows as answers arrive at different phases of the service's second. The store decides with
 * `now + offset` and hands back records in the caller's clock.
 */

/** The resolution of the `Date` header. */
const DATE_RESOLUTION_MS = 1_000

/**
 * A caller whose clock the answers cannot show to be further than this from the service's is
 * trusted as it is. Environments with good clocks (Lambda's are synchronised by the Amazon Time
 * Sync Service) then decide with exactly the times they pass, with no estimation noise, and a
 * `Date` header written a little late (a server caching it for a moment) cannot move anybody's
 * clock. Skew that matters (an operator's laptop minutes off) is far above it.
 */
export const CLOCK_AGREEMENT_MS = 500

/** How many answers an estimate remembers. */
const MAX_SAMPLES = 16

/** Answers older than this no longer count; the next time-dependent write asks for a fresh one. */
const SAMPLE_LIFETIME_MS = 10 * 60_000

/** How far two clocks may drift apart, per millisecond, while an answer ages (100 ppm, generous). */
const DRIFT_PER_MS = 1e-4

/** What one answer says about the offset `service - caller`, and when it arrived (caller's clock). */
interface Sample {
  readonly low: number
  readonly high: number
  readonly at: number
}

/** The interval the offset `service - caller` lies in, in milliseconds. */
export interface OffsetBounds {
  readonly low: number
  readonly high: number
}

/**
 * Estimates the offset between the caller's clock and the service's from the `Date` headers of the
 * service's answers.
 *
 * @example
 * ```ts
 * const clock = new ServiceClock(Date.now)
 * clock.observe(sentAt, receivedAt, 'Wed, 02 Dec 2026 12:00:00 GMT')
 * const serviceNow = Date.now() + (clock.offset() ?? 0)
 * ```
 */
export class ServiceClock {
  /** The caller's clock: the one its requests' `now` come from. */
  readonly now: () => number
  #samples: Sample[] = []

  constructor(now: () => number) {
    this.now = now
  }

  /** Takes in one answer: sent and received on the caller's clock, with the service's `Date` header. */
  observe(sentAt: number, receivedAt: number, date: string): void {
    const service = Date.parse(date)
    // A clock stepped backwards during the request says nothing reliable.
    if (!Number.isFinite(service) || !Number.isFinite(sentAt) || receivedAt < sentAt) return
    this.#samples.push({ low: service - receivedAt, high: service + DATE_RESOLUTION_MS - sentAt, at: receivedAt })
    if (this.#samples.length > MAX_SAMPLES) this.#samples.shift()
  }

  /**
   * The offset `service - caller` known at `now`: the intersection of the recent answers' intervals,
   * newest first. An answer that contradicts the newer ones (the caller's clock was stepped since)
   * is dropped with everything older. `undefined` when no recent answer is known.
   */
  bounds(now: number = this.now()): OffsetBounds | undefined {
    let low = Number.NEGATIVE_INFINITY
    let high = Number.POSITIVE_INFINITY
    let kept = 0
    for (let index = this.#samples.length - 1; index >= 0; index--) {
      const sample = this.#samples[index] as Sample
      const age = Math.abs(now - sample.at)
      if (age > SAMPLE_LIFETIME_MS) break
      const drift = age * DRIFT_PER_MS
      const nextLow = Math.max(low, sample.low - drift)
      const nextHigh = Math.min(high, sample.high + drift)
      if (nextLow > nextHigh) break
      low = nextLow
      high = nextHigh
      kept++
    }
    if (kept < this.#samples.length) this.#samples = this.#samples.slice(this.#samples.length - kept)
    return kept === 0 ? undefined : { low, high }
  }

  /**
   * The milliseconds to add to the caller's clock to get the service's: 0 when the answers agree with
   * the caller's clock to within {@link CLOCK_AGREEMENT_MS}, otherwise the middle of the interval.
   * `undefined` when no recent answer is known.
   */
  offset(now: number = this.now()): number | undefined {
    const bounds = this.bounds(now)
    if (bounds === undefined) return undefined
    if (bounds.low <= CLOCK_AGREEMENT_MS && bounds.high >= -CLOCK_AGREEMENT_MS) return 0
    return Math.round((bounds.low + bounds.high) / 2)
  }
}

/** The part of a client's middleware stack the store uses. */
interface DeserializeStack {
  add(
    middleware: (next: (args: unknown) => Promise<{ response: unknown }>) => (args: unknown) => Promise<{
      response: unknown
    }>,
    options: { step: 'deserialize'; priority: 'low'; tags?: string[] },
  ): void
}

function isDeserializeStack(value: unknown): value is DeserializeStack {
  return typeof value === 'object' && value !== null && typeof (value as { add?: unknown }).add === 'function'
}

function dateHeader(response: unknown): string | undefined {
  if (typeof response !== 'object' || response === null) return undefined
  const headers: unknown = (response as { headers?: unknown }).headers
  if (typeof headers !== 'object' || headers === null) return undefined
  const date: unknown = (headers as Record<string, unknown>).date ?? (headers as Record<string, unknown>).Date
  return typeof date === 'string' ? date : undefined
}

/** Every clock fed by one client's middleware stack, by the caller's clock function. */
const clocksByStack = new WeakMap<object, Map<() => number, ServiceClock>>()

/**
 * The service clock of `client` as seen by a caller with clock `now`, fed by one middleware on the
 * client's stack (added on first use, shared by every store on that client). Each attempt of a
 * request, retries included, is timed on its own, closest to the wire (the deserialize step, after
 * the retry and signing middleware). `undefined` for a client without a middleware stack (a
 * hand-written sender): the store then decides with the caller's clock.
 */
export function serviceClockOf(client: object, now: () => number): ServiceClock | undefined {
  const stack: unknown = (client as { middlewareStack?: unknown }).middlewareStack
  if (!isDeserializeStack(stack)) return undefined
  let clocks = clocksByStack.get(stack)
  if (clocks === undefined) {
    const fed = new Map<() => number, ServiceClock>()
    clocks = fed
    clocksByStack.set(stack, fed)
    stack.add(
      (next) => async (args) => {
        const sentAt = new Map([...fed].map(([clockNow]) => [clockNow, clockNow()]))
        const result = await next(args)
        const date = dateHeader(result.response)
        if (date !== undefined) {
          for (const [clockNow, clock] of fed) clock.observe(sentAt.get(clockNow) ?? Number.NaN, clockNow(), date)
        }
        return result
      },
      { step: 'deserialize', priority: 'low', tags: ['FLEET_BREAKER_SERVICE_CLOCK'] },
    )
  }
  let clock = clocks.get(now)
  if (clock === undefined) {
    clock = new ServiceClock(now)
    clocks.set(now, clock)
  }
  return clock
}

/**
 * Moves every time in a record by `by` milliseconds: from the service's clock into the caller's
 * (`by = -offset`) or back. `changedAt` 0 means "never changed", not a time, and stays 0.
 */
export function shiftRecord(record: CircuitRecord, by: number): CircuitRecord {
  if (by === 0) return record
  const shifted: CircuitRecord = {
    ...record,
    changedAt: record.changedAt === 0 ? 0 : record.changedAt + by,
    ...(record.shadow === undefined
      ? {}
      : {
          shadow: {
            ...record.shadow,
            since: record.shadow.since + by,
            ...(record.shadow.until === undefined ? {} : { until: record.shadow.until + by }),
          },
        }),
    ...(record.history === undefined
      ? {}
      : {
          history: record.history.map((entry) => ({
            ...entry,
            at: entry.at + by,
            ...(entry.until === undefined ? {} : { until: entry.until + by }),
          })),
        }),
    ...(record.forced === undefined
      ? {}
      : {
          forced: {
            ...record.forced,
            since: record.forced.since + by,
            ...(record.forced.until === undefined ? {} : { until: record.forced.until + by }),
          },
        }),
  }
  switch (shifted.state) {
    case CircuitState.CLOSED:
      return shifted.windowStartedAt === undefined
        ? shifted
        : { ...shifted, windowStartedAt: shifted.windowStartedAt + by }
    case CircuitState.OPEN:
      return { ...shifted, retryAt: shifted.retryAt + by }
    case CircuitState.HALF_OPEN:
      return { ...shifted, probes: shifted.probes.map((lease) => ({ ...lease, expiresAt: lease.expiresAt + by })) }
  }
}

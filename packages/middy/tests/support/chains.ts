import {
  type Admission,
  CircuitBreaker as Breaker,
  type CallPermit,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  MemoryStore,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { jest } from '@jest/globals'
import middy7 from '@middy/core'
import httpErrorHandler7 from '@middy/http-error-handler'
import middy5 from 'middy-core-5'
import middy6 from 'middy-core-6'
import httpErrorHandler5 from 'middy-http-error-handler-5'
import httpErrorHandler6 from 'middy-http-error-handler-6'
import { silentLogger } from '../../../../test-support/logger.js'

/*
 * What the middleware's tests share: every Middy major it supports, each with the
 * `@middy/http-error-handler` of the same major, events of each source, and a breaker on a manual
 * clock whose permits can be watched.
 */

export type Middy = typeof middy7
export type HttpErrorHandler = typeof httpErrorHandler7
export interface MiddyMajor {
  readonly middy: Middy
  readonly httpErrorHandler: HttpErrorHandler
  /** Middy 6 and later mark a chain that ended early with `request.earlyResponse`. */
  readonly marksEarlyResponses: boolean
}
export const versions: Array<[string, MiddyMajor]> = [
  [
    'Middy 5',
    {
      middy: middy5 as unknown as Middy,
      httpErrorHandler: httpErrorHandler5 as unknown as HttpErrorHandler,
      marksEarlyResponses: false,
    },
  ],
  [
    'Middy 6',
    {
      middy: middy6 as unknown as Middy,
      httpErrorHandler: httpErrorHandler6 as unknown as HttpErrorHandler,
      marksEarlyResponses: true,
    },
  ],
  ['Middy 7', { middy: middy7, httpErrorHandler: httpErrorHandler7, marksEarlyResponses: true }],
]

export const context = { getRemainingTimeInMillis: () => 30_000 } as never

export const httpEvent = {
  version: '2.0',
  routeKey: 'GET /quote',
  rawPath: '/quote',
  requestContext: { http: { method: 'GET' } },
}
export const restEvent = { httpMethod: 'GET', path: '/quote', requestContext: { stage: 'prod' } }
export const albEvent = {
  httpMethod: 'GET',
  path: '/quote',
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:tg' } },
}
export const sqsEvent = {
  Records: [
    { messageId: 'm-1', eventSource: 'aws:sqs', body: '{}' },
    { messageId: 'm-2', eventSource: 'aws:sqs', body: '{}' },
  ],
}
export const eventBridgeEvent = { source: 'orders', 'detail-type': 'OrderPlaced', detail: {} }

export const serverError = () => Object.assign(new Error('downstream failed'), { statusCode: 502 })
export const clientError = (statusCode: number) =>
  Object.assign(new Error(`client error ${statusCode}`), { statusCode })

/** Breaker options a test may set on top of the defaults of {@link setup}. */
export type SetupOptions = Partial<
  Pick<
    CircuitBreakerOptions<unknown>,
    'failureThreshold' | 'maxConcurrent' | 'slowCallDurationMs' | 'deadlineMarginMs' | 'rampUpMs' | 'isFailure'
  >
>

export function setup(options: SetupOptions = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const { failureThreshold = 2, maxConcurrent, ...rest } = options
  const breaker: CircuitBreaker<unknown> = new Breaker({
    circuitId: 'quote-api',
    store,
    now: clock.now,
    logger: silentLogger,
    failureThreshold,
    resetTimeoutMs: 10_000,
    ...(maxConcurrent === undefined ? {} : { maxConcurrent, maxQueued: 0 }),
    ...rest,
  })
  return { clock, store, breaker }
}

export async function openCircuit(breaker: CircuitBreaker<unknown>) {
  for (let i = 0; i < breaker.options.failureThreshold; i++) {
    await breaker.execute(async () => Promise.reject(serverError())).catch(() => undefined)
  }
}

export type Settlement = 'recordResult' | 'recordError' | 'recordSuccess' | 'recordFailure' | 'release'

/**
 * Watches every permit the breaker hands out from now on: one list per permit, in the order they
 * were handed out, of the ways it was settled (recorded or released). `[['release']]`: one permit,
 * given back once.
 */
export function watchSettlements(breaker: CircuitBreaker<unknown>): Settlement[][] {
  const settlements: Settlement[][] = []
  const writes: Promise<unknown>[] = []
  inFlight.set(settlements, writes)
  const admit = breaker.admit.bind(breaker)
  jest.spyOn(breaker, 'admit').mockImplementation(async (options): Promise<Admission> => {
    const admission = await admit(options)
    if (!admission.admitted) return admission
    const seen: Settlement[] = []
    settlements.push(seen)
    const { permit } = admission
    const watched =
      <A extends unknown[], R>(name: Settlement, settle: (...args: A) => R) =>
      (...args: A): R => {
        seen.push(name)
        const settling = settle(...args)
        writes.push(Promise.resolve(settling).catch(() => undefined))
        return settling
      }
    const watchedPermit: CallPermit = {
      circuitId: permit.circuitId,
      isProbe: permit.isProbe,
      recordResult: watched('recordResult', permit.recordResult),
      recordError: watched('recordError', permit.recordError),
      recordSuccess: watched('recordSuccess', permit.recordSuccess),
      recordFailure: watched('recordFailure', permit.recordFailure),
      release: watched('release', permit.release),
    }
    return { admitted: true, permit: watchedPermit }
  })
  return settlements
}

/** The settlements of each watch, as they write to the store. */
const inFlight = new WeakMap<Settlement[][], Promise<unknown>[]>()

/**
 * Waits until every settlement seen so far has reached the store: a permit settled by a timer or a
 * stream records its outcome while the test goes on.
 */
export async function recorded(settlements: Settlement[][]): Promise<void> {
  await Promise.all(inFlight.get(settlements) ?? [])
}

/** A promise and the function that resolves it. */
export function deferred<T>(): { readonly promise: Promise<T>; readonly resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((settle) => {
    resolve = settle
  })
  return { promise, resolve }
}

/**
 * Waits, polling, until `condition` holds; fails after `timeoutMs`. For outcomes recorded by a
 * timer or a stream: the assertion is about what is recorded, so the wait is generous.
 */
export async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const startedAt = Date.now()
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`gave up waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

import {
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applySetShadow,
  applyTransition,
  CircuitBreaker,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  initialRecord,
  liveProbes,
  type StateChange,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import fc from 'fast-check'
import { recordingLogger, ServiceUnavailable } from './support.js'

/** What happens to one write on one environment's connection. */
export type WriteFault = 'none' | 'lose-answer' | 'error' | 'retry'

export interface Change {
  readonly env: number
  readonly op: string
  readonly opId: string
  readonly before: CircuitRecord
  readonly after: CircuitRecord
  readonly now: number
}

/**
 * One backend (a map of records, every change logged with a global version) and one connection
 * per environment: each request is applied and answered at moments the fast-check scheduler picks
 * (so requests are applied, and answers delivered, in any order), with a per-write fault.
 */
export function scheduledBackend(scheduler: fc.Scheduler, faults: Iterator<WriteFault>, readFaults: Iterator<boolean>) {
  const records = new Map<string, CircuitRecord>()
  const version = new WeakMap<CircuitRecord, number>()
  let seq = 0
  let empty = initialRecord('fuzz')
  version.set(empty, seq)
  const log: Change[] = []
  let mostLiveProbes = 0
  const current = (id: string) => records.get(id) ?? empty
  const put = (record: CircuitRecord) => {
    version.set(record, ++seq)
    records.set(record.circuitId, record)
  }
  const lose = (id: string) => {
    records.delete(id)
    empty = initialRecord(id)
    version.set(empty, ++seq)
  }
  const connection = (env: number): CircuitStore => {
    const change = async <T>(
      op: string,
      id: string,
      request: { readonly now: number; readonly opId: string },
      apply: (record: CircuitRecord) => { result: T; next: CircuitRecord },
    ): Promise<T> => {
      await scheduler.schedule(Promise.resolve(), `env${env} ${op} request`)
      const fault = faults.next().value ?? 'none'
      if (fault === 'error') throw new Error('injected: not applied')
      const once = (): T => {
        const before = current(id)
        const { result, next } = apply(before)
        if (next !== before) {
          put(next)
          log.push({ env, op, opId: request.opId, before, after: next, now: request.now })
          if (next.state === CircuitState.HALF_OPEN) {
            mostLiveProbes = Math.max(mostLiveProbes, liveProbes(next, request.now).length)
          }
        }
        return result
      }
      let result = once()
      if (fault === 'retry') {
        await scheduler.schedule(Promise.resolve(), `env${env} ${op} retry`)
        result = once()
      }
      if (fault === 'lose-answer') throw new Error('injected: answer lost')
      await scheduler.schedule(Promise.resolve(), `env${env} ${op} answer`)
      return result
    }
    const same = (record: CircuitRecord) => ({ result: record, next: record })
    return {
      get: async (id) => {
        await scheduler.schedule(Promise.resolve(), `env${env} get request`)
        if (readFaults.next().value === true) throw new Error('injected: read failed')
        const record = records.get(id)
        await scheduler.schedule(Promise.resolve(), `env${env} get answer`)
        return record
      },
      getMany: async () => new Map(),
      addFailure: (id, r) => change('addFailure', id, r, (c) => same(applyAddFailure(c, r))),
      addCounts: (id, r) => change('addCounts', id, r, (c) => same(applyAddCounts(c, r))),
      resetFailures: (id, r) => change('resetFailures', id, r, (c) => same(applyResetFailures(c, r))),
      transition: (id, r) =>
        change('transition', id, r, (c) => {
          const outcome = applyTransition(c, r)
          return { result: outcome, next: outcome.record }
        }),
      acquireProbe: (id, r) =>
        change('acquireProbe', id, r, (c) => {
          const outcome = applyAcquireProbe(c, r)
          return { result: outcome, next: outcome.record }
        }),
      completeProbe: (id, r) => change('completeProbe', id, r, (c) => same(applyCompleteProbe(c, r))),
      setForced: (id, r) => change('setForced', id, r, (c) => same(applySetForced(c, r.forced, r))),
      reset: (id, r) => change('reset', id, r, (c) => same(applyReset(c, r))),
      setShadow: (id, r) => change('setShadow', id, r, (c) => same(applySetShadow(c, r.shadow, r))),
      setMany: async () => {},
      clearMany: async () => {},
      list: async () => ({ circuits: [] }),
    }
  }
  return {
    connection,
    log,
    records,
    lose,
    versionOf: (record: CircuitRecord) => version.get(record),
    mostLiveProbes: () => mostLiveProbes,
  }
}

export type Outcome = 'success' | 'failure' | 'ignored'
export type Action =
  | { readonly kind: 'call'; readonly env: number; readonly outcome: Outcome }
  | {
      readonly kind: 'operator'
      readonly env: number
      readonly action: 'forceOpen' | 'forceClose' | 'clearOverride' | 'reset'
    }
  | { readonly kind: 'lose-record' }

export const fuzzRun = (options: { operators: boolean; loss: boolean; maxPerBatch?: number }) =>
  fc.record({
    environments: fc.integer({ min: 2, max: 4 }),
    threshold: fc.integer({ min: 1, max: 3 }),
    maxProbes: fc.integer({ min: 1, max: 3 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    cacheTtlMs: fc.constantFrom(0, 500),
    failClosed: fc.boolean(),
    batches: fc.array(
      fc.record({
        actions: fc.array(
          fc.oneof(
            {
              weight: 10,
              arbitrary: fc.record({
                kind: fc.constant('call' as const),
                env: fc.nat({ max: 3 }),
                outcome: fc.constantFrom<Outcome>('success', 'failure', 'failure', 'ignored'),
              }),
            },
            {
              weight: options.operators ? 1 : 0,
              arbitrary: fc.record({
                kind: fc.constant('operator' as const),
                env: fc.nat({ max: 3 }),
                action: fc.constantFrom('forceOpen', 'forceClose', 'clearOverride', 'reset') as fc.Arbitrary<
                  'forceOpen' | 'forceClose' | 'clearOverride' | 'reset'
                >,
              }),
            },
            { weight: options.loss ? 1 : 0, arbitrary: fc.record({ kind: fc.constant('lose-record' as const) }) },
          ),
          { minLength: 1, maxLength: options.maxPerBatch ?? 8 },
        ),
        advanceMs: fc.constantFrom(0, 300, 1_000, 2_500, 60_000),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  })

export type FuzzRun = typeof fuzzRun extends (...args: never[]) => fc.Arbitrary<infer T> ? T : never

export async function runFuzz(
  scheduler: fc.Scheduler,
  run: FuzzRun,
  faults: Iterator<WriteFault>,
  readFaults: Iterator<boolean>,
) {
  const clock = new ManualClock()
  const backend = scheduledBackend(scheduler, faults, readFaults)
  const changes: Array<StateChange & { env: number }> = []
  const fleet = Array.from({ length: run.environments }, (_, env) => {
    const breaker = new CircuitBreaker({
      circuitId: 'fuzz',
      store: backend.connection(env),
      now: clock.now,
      failureThreshold: run.threshold,
      halfOpenMaxProbes: run.maxProbes,
      halfOpenSuccessThreshold: run.successThreshold,
      resetTimeoutMs: 1_000,
      probeLeaseMs: 30_000,
      cacheTtlMs: run.cacheTtlMs,
      storeOutage: run.failClosed ? 'fail-closed' : 'fail-open',
      storeRetryIntervalMs: 0,
      logger: recordingLogger(),
    })
    breaker.onStateChange((change) => {
      changes.push({ ...change, env })
    })
    return breaker
  })
  let probesInFlight = 0
  let mostProbesInFlight = 0
  let operatorActions = 0
  for (const batch of run.batches) {
    const work = batch.actions.map(async (action) => {
      if (action.kind === 'lose-record') {
        await scheduler.schedule(Promise.resolve(), 'lose record')
        backend.lose('fuzz')
        return
      }
      const breaker = fleet[action.env % run.environments] as CircuitBreaker
      if (action.kind === 'operator') {
        try {
          await breaker[action.action]()
          operatorActions++
        } catch {
          // the store could not be reached (or the answer was lost)
        }
        return
      }
      const admission = await breaker.admit()
      if (!admission.admitted) return
      const { permit } = admission
      if (permit.isProbe) mostProbesInFlight = Math.max(mostProbesInFlight, ++probesInFlight)
      await scheduler.schedule(Promise.resolve(), 'downstream call')
      if (permit.isProbe) probesInFlight--
      if (action.outcome === 'success') await permit.recordResult('ok')
      else if (action.outcome === 'failure') await permit.recordError(new ServiceUnavailable())
      else await permit.recordError(Object.assign(new Error('bad request'), { statusCode: 400 }))
    })
    await scheduler.waitFor(Promise.all(work))
    clock.advance(batch.advanceMs)
  }
  return { ...backend, changes, clock, mostProbesInFlight, operatorActions }
}

export type FuzzOutcome = Awaited<ReturnType<typeof runFuzz>>

/** Every guarantee of the table that can be checked from the backend's log and the events. */
export function violations(run: FuzzRun, outcome: FuzzOutcome): string[] {
  const found: string[] = []
  const { log, changes, versionOf } = outcome
  const automatic = log.filter(
    (change) => change.op === 'transition' && change.before.generation !== change.after.generation,
  )
  for (const { before, after, now } of automatic) {
    const edge = `${before.state}->${after.state}`
    if (!['CLOSED->OPEN', 'OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED', 'HALF_OPEN->OPEN'].includes(edge))
      found.push(`invalid edge ${edge}`)
    if (before.state === CircuitState.CLOSED && before.failures < run.threshold) found.push('opened below threshold')
    if (before.state === CircuitState.OPEN && before.retryAt > now) found.push('half-open before retry time')
  }
  for (const { before, after, op } of log) {
    if (before.state === CircuitState.OPEN && after.state === CircuitState.OPEN && before.retryAt !== after.retryAt)
      if (before.generation === after.generation || op !== 'transition') found.push(`retry time moved by ${op}`)
  }
  const applied = log.map(({ opId, op }) => `${op}:${opId}`)
  if (new Set(applied).size !== applied.length) found.push('a write applied twice')
  if (outcome.mostProbesInFlight > run.maxProbes) found.push(`probes in flight ${outcome.mostProbesInFlight}`)
  if (outcome.mostLiveProbes() > run.maxProbes) found.push(`live leases ${outcome.mostLiveProbes()}`)
  const record = outcome.records.get('fuzz')
  if (record?.state === CircuitState.HALF_OPEN && record.probes.length > 0) found.push('orphaned lease')
  // Local reports: at most one per transition, and every transition reported by its maker only.
  const local = changes.filter((change) => change.origin === 'local')
  const automaticLocal = local.filter(
    (change) => !['forced-open', 'forced-closed', 'override-ended', 'reset'].includes(change.reason),
  )
  if (automaticLocal.length > automatic.length)
    found.push(`local ${automaticLocal.length} > transitions ${automatic.length}`)
  // Observed events never go back to an older record.
  const newest = new Map<number, number>()
  for (const change of changes) {
    if (change.origin !== 'observed') continue
    const v = versionOf(change.record)
    if (v === undefined) continue
    const seen = newest.get(change.env) ?? -1
    if (v < seen) found.push(`env${change.env} observed an older record (v${v} after v${seen})`)
    newest.set(change.env, Math.max(seen, v))
  }
  return found
}

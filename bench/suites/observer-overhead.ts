/**
 * Observer overhead: what registering observers costs a call when nothing happens (a healthy call
 * in a closed circuit: no event), and what a rejected call costs with the Powertools metrics
 * adapter counting it, against the same breaker without observers.
 */
import { type BreakerObserver, CircuitBreaker, MemoryStore, type PowertoolsMetricsLike } from '@fleet-breaker/core'
// The hooks themselves are internal: timed here straight from the source.
import { ObserverHub } from '../../packages/core/src/observe/hub.js'
import type { Suite } from '../lib/suite.js'

interface Plan {
  readonly rounds: number
  /** Calls per round of each healthy-path contender, and of each rejected-path one (rejections make errors: slower). */
  readonly healthyCalls: number
  readonly rejectedCalls: number
  readonly warmupRounds: number
}
const FULL: Plan = { rounds: 31, healthyCalls: 100_000, rejectedCalls: 10_000, warmupRounds: 3 }
const QUICK: Plan = { rounds: 15, healthyCalls: 20_000, rejectedCalls: 2_000, warmupRounds: 2 }
/** "A few tens of nanoseconds": the most observers may add to a call when nothing happens. */
const TARGET_NS = 30

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** An observer of every kind of event that does nothing: the cost is the breaker's alone. */
const everyEvent: Required<BreakerObserver> = {
  onStateChange() {},
  onCallRejected() {},
  onProbeSucceeded() {},
  onProbeFailed() {},
  onFailureCounted() {},
  onFailOpenCall() {},
  onLocallyOpened() {},
  onStoreError() {},
  onStoreLatency() {},
  flush: async () => {},
}

/** A stand-in for a Powertools `Metrics` instance that counts instead of writing EMF to stdout. */
function countingMetrics(): PowertoolsMetricsLike & { emitted: number } {
  const metrics = {
    emitted: 0,
    singleMetric: () => ({
      addMetric: () => {
        metrics.emitted++
      },
      addMetadata: () => undefined,
      setDefaultDimensions: () => undefined,
    }),
  }
  return metrics
}

interface Contender {
  readonly id: string
  readonly label: string
  readonly call: () => Promise<unknown>
}

async function contenders(): Promise<Contender[]> {
  const make = (id: string, extra: { observers?: BreakerObserver[]; metrics?: PowertoolsMetricsLike }) =>
    new CircuitBreaker({ circuitId: `bench-${id}`, store: new MemoryStore(), logger: silent, ...extra })
  const healthy = async () => 1
  const plain = make('plain', {})
  const observed = make('observed', { observers: [everyEvent, everyEvent, everyEvent] })
  const metered = make('metered', { metrics: countingMetrics() })
  const openPlain = make('open-plain', {})
  const openMetered = make('open-metered', { metrics: countingMetrics() })
  await openPlain.forceOpen()
  await openMetered.forceOpen()
  const rejected = (breaker: CircuitBreaker) => () => breaker.execute(healthy).catch(() => 1)
  return [
    { id: 'healthy-none', label: 'healthy call, no observer', call: () => plain.execute(healthy) },
    {
      id: 'healthy-observers',
      label: 'healthy call, 3 observers of every event',
      call: () => observed.execute(healthy),
    },
    { id: 'healthy-metrics', label: 'healthy call, `metrics` adapter', call: () => metered.execute(healthy) },
    { id: 'rejected-none', label: 'rejected call (forced open), no observer', call: rejected(openPlain) },
    { id: 'rejected-metrics', label: 'rejected call (forced open), `metrics` adapter', call: rejected(openMetered) },
  ]
}

async function timeCalls(contender: Contender, calls: number): Promise<number> {
  const started = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) await contender.call()
  return Number(process.hrtime.bigint() - started) / calls
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/**
 * Runs each group's contenders once per round, in an order rotated each round so the machine's
 * noise does not always land on the same one. The groups run apart: the rejected path makes an
 * error per call, and its garbage must not be collected during the healthy path's timing.
 */
async function measure(
  groups: ReadonlyArray<readonly [readonly Contender[], number]>,
  plan: Plan,
  log: (line: string) => void,
) {
  const perRound = new Map<string, number[]>()
  for (const [group, calls] of groups) {
    for (const contender of group) perRound.set(contender.id, [])
    for (let round = -plan.warmupRounds; round < plan.rounds; round++) {
      const shift = ((round % group.length) + group.length) % group.length
      const order = [...group.slice(shift), ...group.slice(0, shift)]
      for (const contender of order) {
        const ns = await timeCalls(contender, calls)
        if (round >= 0) perRound.get(contender.id)?.push(ns)
      }
    }
    log(`${group.map((contender) => contender.id).join(', ')}: ${plan.rounds} rounds`)
  }
  return perRound
}

/**
 * The ns one hook site costs with no observer registered: the hooks of a store call, a counted
 * failure and a fail-open call, each made `calls` times, minus an empty loop; fastest of `rounds`.
 */
function hookCostNs(calls: number, rounds: number): number {
  const hub = new ObserverHub('bench', [], Date.now, silent)
  let fastest = Number.POSITIVE_INFINITY
  let sink = 0
  for (let round = 0; round < rounds; round++) {
    let started = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) {
      const startedAt = hub.timesStore ? performance.now() : 0
      hub.storeCall('get', startedAt, false)
      hub.failureCounted(false)
      hub.failOpen()
      sink += startedAt
    }
    const hooked = Number(process.hrtime.bigint() - started)
    started = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) sink += i & 1
    const empty = Number(process.hrtime.bigint() - started)
    fastest = Math.min(fastest, (hooked - empty) / (calls * 3))
  }
  if (sink < 0) throw new Error('unreachable: keeps the loops from being optimised away')
  return Math.max(0, fastest)
}

export const observerOverhead: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const all = await contenders()
  const healthyGroup = all.filter((contender) => contender.id.startsWith('healthy'))
  const rejectedGroup = all.filter((contender) => contender.id.startsWith('rejected'))
  const perRound = await measure(
    [
      [healthyGroup, plan.healthyCalls],
      [rejectedGroup, plan.rejectedCalls],
    ],
    plan,
    log,
  )
  // The fastest round of each: on a shared machine noise only ever adds time, so the minimum is
  // the steadiest estimate of what the code itself costs.
  const fastest = (id: string) => Math.min(...(perRound.get(id) ?? []))
  const overhead = (id: string, baseline: string) => fastest(id) - fastest(baseline)
  const ns = (value: number) => `${value.toFixed(1)} ns`
  const hookNs = hookCostNs(quick ? 1_000_000 : 10_000_000, plan.rounds)
  log(`one hook with no observer: ${hookNs.toFixed(2)} ns`)
  const healthyObservers = overhead('healthy-observers', 'healthy-none')
  const healthyMetrics = overhead('healthy-metrics', 'healthy-none')
  const rejectedMetrics = overhead('rejected-metrics', 'rejected-none')
  const rows = all.map((contender) => {
    const baseline = contender.id.startsWith('healthy') ? 'healthy-none' : 'rejected-none'
    const added = contender.id === baseline ? '–' : ns(overhead(contender.id, baseline))
    const own = perRound.get(contender.id) ?? []
    return `| ${contender.label} | ${ns(fastest(contender.id))} | ${ns(median(own))} | ${added} |`
  })
  const markdown = [
    `Each contender makes ${plan.healthyCalls.toLocaleString('en-US')} (healthy path) or ` +
      `${plan.rejectedCalls.toLocaleString('en-US')} (rejected path) sequential awaited calls of \`async () => 1\` per round ` +
      `through a breaker on a \`MemoryStore\` with default options, ${plan.rounds} rounds after ` +
      `${plan.warmupRounds} warm-up, in a different order each round. "Added" is the contender's fastest ` +
      'round minus the fastest round of the breaker without observers (noise only ever adds time on a ' +
      'shared machine, so the fastest round is the steadiest estimate). A healthy call in a closed ' +
      'circuit raises no event, so observers should cost it nothing but the checks on the way; the ' +
      'rejected rows show the cost of an event (the metrics adapter here counts instead of writing EMF).',
    '',
    '| path | ns/call (fastest round) | ns/call (median) | added by observers (fastest rounds) |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `With no observer registered, a hook site (a store call's, a counted failure's, a fail-open ` +
      `call's) costs ${hookNs.toFixed(2)} ns: a length check and a return, no event object, no clock read.`,
  ].join('\n')
  return {
    id: 'observer-overhead',
    title: 'Observer overhead',
    markdown,
    checks: [
      {
        target: `observers add at most ${TARGET_NS} ns to a call when nothing happens`,
        met: healthyObservers <= TARGET_NS && healthyMetrics <= TARGET_NS,
        detail: `3 observers of every event ${ns(healthyObservers)}, the metrics adapter ${ns(healthyMetrics)}`,
      },
      {
        target: 'a hook with no observer registered costs at most 5 ns',
        met: hookNs <= 5,
        detail: `${hookNs.toFixed(2)} ns per hook`,
      },
    ],
    data: { plan, nsPerCall: Object.fromEntries(perRound), healthyObservers, healthyMetrics, rejectedMetrics, hookNs },
    headlines: [
      `Observers: a healthy call costs ${ns(healthyMetrics)} more with the Powertools metrics adapter ` +
        `(${ns(healthyObservers)} with three observers of every event); a rejected call ${ns(rejectedMetrics)} more.`,
    ],
  }
}

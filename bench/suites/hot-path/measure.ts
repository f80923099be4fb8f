import { setTimeout as sleep } from 'node:timers/promises'
import { GCProfiler } from 'node:v8'
import { CALL_VALUE, type Contender, storeOperationCount } from './contenders.js'
import { seededRandom, shuffled } from './order.js'

/**
 * Makes `calls` sequential awaited calls through `contender` and returns the nanoseconds per call.
 * Every value is checked, so a contender that skipped the call or altered its result cannot win.
 */
export async function timeCalls(contender: Contender, calls: number): Promise<number> {
  let wrong = 0
  const started = process.hrtime.bigint()
  for (let i = 0; i < calls; i += 1) {
    if ((await contender.call()) !== CALL_VALUE) wrong += 1
  }
  const elapsed = process.hrtime.bigint() - started
  if (wrong > 0)
    throw new Error(`${contender.id}: ${wrong} of ${calls} calls returned a value other than ${CALL_VALUE}`)
  return Number(elapsed) / calls
}

export interface RoundsPlan {
  readonly rounds: number
  readonly calls: number
  readonly warmupRounds: number
  readonly seed: number
}

/** Nanoseconds per call of every contender, one figure per round, and the order each round ran in. */
export interface Rounds {
  readonly nsPerCall: Record<string, number[]>
  readonly orders: string[][]
  /** Spaced rounds only: calls per contender, over the kept rounds, left out as stalls of the machine. */
  readonly stalls?: Record<string, number>
  /** Spaced rounds only: calls per contender over the stall bound that were kept, as they made a store request. */
  readonly slowWithStore?: Record<string, number>
}

/**
 * Back-to-back calls: runs every contender once per round, `calls` calls in a row, in an order
 * shuffled afresh each round, so a burst of noise on the machine lands on different contenders
 * each time rather than always on the same one. Warm-up rounds (not kept) let the JIT settle
 * every contender before timing starts.
 */
export async function measureRounds(contenders: readonly Contender[], plan: RoundsPlan): Promise<Rounds> {
  const random = seededRandom(plan.seed)
  const nsPerCall: Record<string, number[]> = Object.fromEntries(contenders.map((contender) => [contender.id, []]))
  const orders: string[][] = []
  for (const contender of contenders) await contender.prepare?.()
  for (let round = -plan.warmupRounds; round < plan.rounds; round += 1) {
    const order = shuffled(contenders, random)
    for (const contender of order) {
      const ns = await timeCalls(contender, plan.calls)
      if (round >= 0) nsPerCall[contender.id]?.push(ns)
    }
    if (round >= 0) orders.push(order.map((contender) => contender.id))
  }
  return { nsPerCall, orders }
}

export interface SpacedPlan {
  readonly rounds: number
  /** Ticks per round; every contender makes one call per tick. */
  readonly ticks: number
  readonly warmupRounds: number
  readonly seed: number
  /** The pause between ticks: calls never share a millisecond, as invocations of one environment do not. */
  readonly gapMs: number
  /**
   * A call that takes longer than this without making a store request was held up by the machine
   * (the scheduler, another process), not by its library: left out of its round's mean and counted
   * instead. A call that made a store request is kept whatever it took.
   */
  readonly stallMs: number
}

/**
 * Spaced calls, as a Lambda environment makes them: one call, then the event loop goes on to
 * other work (timers fire, the clock moves on) before the next. Each tick every contender makes
 * one call, in an order shuffled each tick, timed on its own; a round's figure is the mean over
 * its ticks. A call's own timer, controller and promise are all created and settled per call, so
 * nothing made for one call is reused by the next the way back-to-back calls in one millisecond
 * can share it.
 *
 * One stall of a few milliseconds would add a large part of a microsecond to the mean of the round
 * it lands in, as much as a contender costs; landing on the bare call, it would turn every overhead
 * of that round negative. Calls longer than `plan.stallMs` are therefore counted, not averaged,
 * unless they made a store request: fleet-breaker reads the store when its cached view's trust
 * ends, which is its own cost, however long it takes.
 */
export async function measureSpaced(contenders: readonly Contender[], plan: SpacedPlan): Promise<Rounds> {
  const random = seededRandom(plan.seed)
  const stallNs = plan.stallMs * 1e6
  const nsPerCall: Record<string, number[]> = Object.fromEntries(contenders.map((contender) => [contender.id, []]))
  const stalls: Record<string, number> = Object.fromEntries(contenders.map((contender) => [contender.id, 0]))
  const slowWithStore: Record<string, number> = Object.fromEntries(contenders.map((contender) => [contender.id, 0]))
  const orders: string[][] = []
  const totals = new Map<string, { ns: number; calls: number }>()
  for (const contender of contenders) await contender.prepare?.()
  for (let round = -plan.warmupRounds; round < plan.rounds; round += 1) {
    for (const contender of contenders) totals.set(contender.id, { ns: 0, calls: 0 })
    for (let tick = 0; tick < plan.ticks; tick += 1) {
      for (const contender of shuffled(contenders, random)) {
        const operations = storeOperationCount()
        const started = process.hrtime.bigint()
        const value = await contender.call()
        const elapsed = Number(process.hrtime.bigint() - started)
        if (value !== CALL_VALUE) throw new Error(`${contender.id} returned ${String(value)} instead of ${CALL_VALUE}`)
        const total = totals.get(contender.id)
        if (total === undefined) continue
        if (elapsed > stallNs) {
          const stalled = storeOperationCount() === operations
          // Counted over the kept rounds only, as the means are.
          const tally = stalled ? stalls : slowWithStore
          if (round >= 0) tally[contender.id] = (tally[contender.id] ?? 0) + 1
          if (stalled) continue
        }
        total.ns += elapsed
        total.calls += 1
      }
      await sleep(plan.gapMs)
    }
    if (round < 0) continue
    for (const contender of contenders) {
      const total = totals.get(contender.id)
      if (total === undefined || total.calls === 0) throw new Error(`${contender.id}: every call of a round stalled`)
      nsPerCall[contender.id]?.push(total.ns / total.calls)
    }
    orders.push([])
  }
  return { nsPerCall, orders, stalls, slowWithStore }
}

/** What a contender allocates per call, back to back. */
export interface Allocation {
  readonly id: string
  readonly calls: number
  /** Bytes allocated per call: what every collection freed plus what the heap grew by, over the calls. */
  readonly bytesPerCall: number
  /** Young-generation collections (scavenges) per million calls. */
  readonly minorGcsPerMillion: number
  readonly majorGcs: number
}

/** V8's GC type flags (`v8.GCProfiler` reports them as names). */
const SCAVENGE = 'Scavenge'
const MINOR_MARK = 'MinorMarkSweep'

/**
 * Allocation per call, from V8's own account of every collection during `calls` calls: the bytes
 * each collection freed plus the net growth of the heap is what the calls allocated.
 */
export async function measureAllocation(contender: Contender, calls: number): Promise<Allocation> {
  // Settle the JIT first, so compilation's own allocations are not counted.
  await timeCalls(contender, Math.min(calls, 20_000))
  globalThis.gc?.()
  const profiler = new GCProfiler()
  const usedBefore = process.memoryUsage().heapUsed
  profiler.start()
  await timeCalls(contender, calls)
  const usedAfter = process.memoryUsage().heapUsed
  const result = profiler.stop()
  let freed = 0
  let minor = 0
  let major = 0
  for (const entry of result?.statistics ?? []) {
    freed += entry.beforeGC.heapStatistics.usedHeapSize - entry.afterGC.heapStatistics.usedHeapSize
    if (entry.gcType === SCAVENGE || entry.gcType === MINOR_MARK) minor += 1
    else major += 1
  }
  return {
    id: contender.id,
    calls,
    bytesPerCall: (freed + usedAfter - usedBefore) / calls,
    minorGcsPerMillion: (minor * 1e6) / calls,
    majorGcs: major,
  }
}

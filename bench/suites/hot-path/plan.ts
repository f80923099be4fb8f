import type { RoundsPlan, SpacedPlan } from './measure.js'

/** What a worker measures, and for how long. */
export interface WorkerPlan {
  readonly backToBack: RoundsPlan
  readonly spaced: SpacedPlan
  /** Calls an open circuit turns away, back to back (each costs microseconds: fewer calls). */
  readonly rejected: RoundsPlan
  /** Calls per contender when counting allocation. */
  readonly allocationCalls: number
  /** Circuits made per library when measuring memory per circuit. */
  readonly memoryCircuits?: number
  /** Fresh processes that measure the many-circuit comparison on its own (see circuits-worker.ts). */
  readonly freshProcesses: number
}

export const FULL: WorkerPlan = {
  backToBack: { rounds: 15, calls: 200_000, warmupRounds: 2, seed: 0x5eed },
  spaced: { rounds: 12, ticks: 6_000, warmupRounds: 2, seed: 0x5eed, gapMs: 1, stallMs: 1 },
  rejected: { rounds: 15, calls: 20_000, warmupRounds: 2, seed: 0x5eed },
  allocationCalls: 500_000,
  memoryCircuits: 10_000,
  freshProcesses: 5,
}

export const QUICK: WorkerPlan = {
  backToBack: { rounds: 3, calls: 20_000, warmupRounds: 1, seed: 0x5eed },
  spaced: { rounds: 3, ticks: 150, warmupRounds: 1, seed: 0x5eed, gapMs: 1, stallMs: 1 },
  rejected: { rounds: 3, calls: 2_000, warmupRounds: 1, seed: 0x5eed },
  allocationCalls: 50_000,
  memoryCircuits: 2_000,
  freshProcesses: 2,
}

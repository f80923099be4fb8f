/**
 * One runtime's hot-path measurements, run in a process of their own (with `--expose-gc`) so the
 * suite can measure every Node.js version it finds side by side: `TSX_TSCONFIG_PATH=bench/tsconfig.json
 * node --expose-gc --import tsx bench/suites/hot-path/worker.ts <plan.json> <out.json>` (after `pnpm build`).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import {
  circuitFactories,
  createContenders,
  createRejectionContenders,
  type Library,
  MANY_CIRCUITS,
} from './contenders.js'
import { type Allocation, measureAllocation, measureRounds, measureSpaced, type Rounds } from './measure.js'
import type { WorkerPlan } from './plan.js'

/** Heap bytes one circuit of a library keeps alive, called once. */
export interface CircuitMemory {
  readonly library: Library
  readonly label: string
  readonly circuits: number
  readonly bytesPerCircuit: number
}

/** What a worker hands back. */
export interface WorkerResult {
  readonly node: string
  readonly v8: string
  readonly backToBack: Rounds
  readonly spaced: Rounds
  /** Calls an open circuit turns away; the baseline is `bare-rejected`. */
  readonly rejected: Rounds
  readonly allocation: readonly Allocation[]
  readonly memory: readonly CircuitMemory[]
  /** What one `Date.now()` costs on this runtime and machine (ns, median of batches). */
  readonly clockReadNs: number
  readonly labels: Record<string, { label: string; library: Library; withTimeout: boolean; circuits: number }>
}

async function heapUsedAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

/**
 * Heap per circuit: the heap holding `count` circuits (each called once) minus the same heap once
 * they are released, both after full collections, so what loading and compiling left behind
 * cancels out.
 */
async function measureMemory(count: number): Promise<CircuitMemory[]> {
  const figures: CircuitMemory[] = []
  for (const factory of circuitFactories) {
    let made: { keep: unknown; close: () => void } | undefined = await factory.make(count)
    const held = await heapUsedAfterGc()
    made.close()
    made = undefined
    const released = await heapUsedAfterGc()
    figures.push({
      library: factory.library,
      label: factory.label,
      circuits: count,
      bytesPerCircuit: (held - released) / count,
    })
  }
  return figures
}

/**
 * The cost of one clock read: a breaker that trusts its cached view for a bounded time must read
 * the clock for every call that may be the first after the trust ended (the first of every turn of
 * the event loop), so this is part of the floor of a spaced call's hot path.
 */
function measureClockRead(): number {
  const batches: number[] = []
  let sink = 0
  for (let batch = 0; batch < 7; batch++) {
    const reads = 2_000_000
    const started = process.hrtime.bigint()
    for (let i = 0; i < reads; i++) sink += Date.now()
    batches.push(Number(process.hrtime.bigint() - started) / reads)
  }
  if (sink === 0) throw new Error('the clock read nothing')
  return batches.sort((a, b) => a - b)[batches.length >> 1] ?? Number.NaN
}

async function main(): Promise<void> {
  const [planPath, outPath] = process.argv.slice(2)
  if (planPath === undefined || outPath === undefined) throw new Error('usage: worker.ts <plan.json> <out.json>')
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as WorkerPlan
  if (globalThis.gc === undefined) throw new Error('run with --expose-gc')
  const labels: WorkerResult['labels'] = {}
  const remember = (contenders: ReturnType<typeof createContenders>) => {
    for (const { id, label, library, withTimeout, circuits } of contenders)
      labels[id] = { label, library, withTimeout, circuits }
  }

  // First, on a heap nothing else has touched yet.
  const memory = await measureMemory(plan.memoryCircuits ?? MANY_CIRCUITS)
  const backToBackContenders = createContenders({ plain: true, timeouts: false, manyCircuits: true })
  remember(backToBackContenders)
  let backToBack: Rounds
  const allocation: Allocation[] = []
  try {
    backToBack = await measureRounds(backToBackContenders, plan.backToBack)
    for (const contender of backToBackContenders) {
      allocation.push(await measureAllocation(contender, plan.allocationCalls))
    }
  } finally {
    for (const contender of backToBackContenders) contender.close()
  }

  const spacedContenders = createContenders({ plain: true, timeouts: true, manyCircuits: true, clockReference: true })
  remember(spacedContenders)
  let spaced: Rounds
  try {
    spaced = await measureSpaced(spacedContenders, plan.spaced)
    for (const contender of spacedContenders) {
      if (contender.withTimeout) allocation.push(await measureAllocation(contender, plan.allocationCalls))
    }
  } finally {
    for (const contender of spacedContenders) contender.close()
  }

  const rejectionContenders = createRejectionContenders()
  remember(rejectionContenders)
  let rejected: Rounds
  try {
    rejected = await measureRounds(rejectionContenders, plan.rejected)
  } finally {
    for (const contender of rejectionContenders) contender.close()
  }

  const result: WorkerResult = {
    node: process.version,
    v8: process.versions.v8,
    backToBack,
    spaced,
    rejected,
    allocation,
    memory,
    clockReadNs: measureClockRead(),
    labels,
  }
  writeFileSync(outPath, JSON.stringify(result))
  // opossum's intervals are shut down, but a stray handle must not keep this process waiting.
  process.exit(0)
}

await main()

/**
 * The many-circuit comparison on its own, in a fresh process: the back-to-back contenders of the
 * main worker (one circuit and {@link MANY_CIRCUITS} circuits of each library), measured before
 * anything else has been made on the heap, as an application makes its circuits when it starts.
 * The main worker measures memory per circuit first, building and dropping tens of thousands of
 * circuits, which leaves the heap in a state that decides where the circuits made next land in
 * memory; several fresh processes show what the spread is without that history, and between
 * layouts. `TSX_TSCONFIG_PATH=bench/tsconfig.json node --expose-gc --import tsx
 * bench/suites/hot-path/circuits-worker.ts <plan.json> <out.json>` (after `pnpm build`)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createContenders, MANY_CIRCUITS } from './contenders.js'
import { measureRounds, type Rounds } from './measure.js'
import type { WorkerPlan } from './plan.js'

/** What a circuits worker hands back. */
export interface CircuitsResult {
  readonly node: string
  readonly circuits: number
  readonly backToBack: Rounds
}

async function main(): Promise<void> {
  const [planPath, outPath] = process.argv.slice(2)
  if (planPath === undefined || outPath === undefined)
    throw new Error('usage: circuits-worker.ts <plan.json> <out.json>')
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as WorkerPlan
  const contenders = createContenders({ plain: true, timeouts: false, manyCircuits: true })
  let backToBack: Rounds
  try {
    backToBack = await measureRounds(contenders, plan.backToBack)
  } finally {
    for (const contender of contenders) contender.close()
  }
  const result: CircuitsResult = { node: process.version, circuits: MANY_CIRCUITS, backToBack }
  writeFileSync(outPath, JSON.stringify(result))
  // opossum's intervals are shut down, but a stray handle must not keep this process waiting.
  process.exit(0)
}

await main()

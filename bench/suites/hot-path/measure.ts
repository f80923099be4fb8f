import { CALL_VALUE, type Contender } from './contenders.js'
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

/**
 * Runs every contender once per round, in an order shuffled afresh each round, so a burst of noise
 * on the machine lands on different contenders each time rather than always on the same one.
 * Warm-up rounds (not kept) let the JIT settle every contender before timing starts.
 */
export async function measureRounds(
  contenders: readonly Contender[],
  plan: RoundsPlan,
  onRound: (round: number) => void,
): Promise<{ nsPerCall: Map<string, number[]>; orders: string[][] }> {
  const random = seededRandom(plan.seed)
  const nsPerCall = new Map<string, number[]>(contenders.map((contender) => [contender.id, []]))
  const orders: string[][] = []
  for (let round = -plan.warmupRounds; round < plan.rounds; round += 1) {
    const order = shuffled(contenders, random)
    for (const contender of order) {
      const ns = await timeCalls(contender, plan.calls)
      if (round >= 0) nsPerCall.get(contender.id)?.push(ns)
    }
    if (round >= 0) {
      orders.push(order.map((contender) => contender.id))
      onRound(round)
    }
  }
  return { nsPerCall, orders }
}

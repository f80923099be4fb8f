import type { PhaseDurations } from '../../../examples/fleet/options.js'
import { StoreKind } from '../../../examples/fleet/store-backend.js'
import { type Configuration, StrategyKind } from './runs.js'

/** Mean invocations a second per environment: the simulator's default. */
export const BASE_RATE = 5

/** What a mode of the suite runs. */
export interface Plan {
  readonly phases: PhaseDurations
  readonly seeds: readonly number[]
  readonly sizes: readonly number[]
  /** Every configuration, run once per seed. */
  readonly configurations: readonly Configuration[]
  /** The fleet size whose DynamoDB runs the chart shows. */
  readonly chartEnvironments: number
  /** The fleet size also run with doubled traffic and with fleet-breaker's CLOSED cache off. */
  readonly variantEnvironments: number
}

/**
 * The runs of a mode. Full: 10, 50 and 200 environments, three seeds, fleet-breaker shared on
 * every store, the per-environment breakers once per size (their store does not matter), the
 * naive shared breaker on every store; at 50 environments also fleet-breaker with no CLOSED cache
 * (a store read per invocation, as the naive design makes) and doubled traffic. Quick (CI): 10
 * environments, short phases, one seed, no Redis.
 *
 * @example
 * ```ts
 * const plan = planRuns({ quick: true, redis: false })
 * ```
 */
export function planRuns(options: { readonly quick: boolean; readonly redis: boolean }): Plan {
  const { quick } = options
  const stores: StoreKind[] = [StoreKind.MEMORY, StoreKind.DYNAMODB]
  if (options.redis && !quick) stores.push(StoreKind.REDIS)
  const sizes = quick ? [10] : [10, 50, 200]
  const variantEnvironments = quick ? 10 : 50
  const configurations = sizes.flatMap((environments) => {
    const at = (strategy: StrategyKind, store?: StoreKind, invocationsPerSecond = BASE_RATE): Configuration => ({
      strategy,
      environments,
      invocationsPerSecond,
      ...(store === undefined ? {} : { store }),
    })
    return [
      ...stores.map((store) => at(StrategyKind.SHARED, store)),
      at(StrategyKind.PER_ENVIRONMENT),
      at(StrategyKind.OPOSSUM),
      at(StrategyKind.COCKATIEL),
      ...stores.map((store) => at(StrategyKind.NAIVE, store)),
      ...(environments === variantEnvironments
        ? [
            // fleet-breaker reading the store on every invocation, as the naive design does.
            { ...at(StrategyKind.SHARED, StoreKind.DYNAMODB), cacheTtlMs: 0 },
            at(StrategyKind.SHARED, StoreKind.DYNAMODB, 2 * BASE_RATE),
            at(StrategyKind.NAIVE, StoreKind.DYNAMODB, 2 * BASE_RATE),
          ]
        : []),
    ]
  })
  return {
    // Full: the outage is long enough for a failed probe and the backoff after it (a 1 s reset
    // timeout, doubled), the recovery long enough for the last per-environment breaker to close.
    phases: quick
      ? { healthyMs: 300, outageMs: 800, recoveredMs: 800 }
      : { healthyMs: 500, outageMs: 2_500, recoveredMs: 3_000 },
    seeds: quick ? [1] : [1, 2, 3],
    sizes,
    configurations,
    chartEnvironments: quick ? 10 : 50,
    variantEnvironments,
  }
}

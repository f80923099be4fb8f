import type { FleetResult } from './measure.js'
import { type FleetRunOptions, runFleet } from './simulator.js'
import { type SharedStoreOptions, StoreKind, startSharedStore } from './store-backend.js'
import { perEnvironmentStrategy, sharedStoreStrategy } from './strategies.js'

/** Options of {@link compareFleetBreakers}. */
export interface FleetComparisonOptions extends FleetRunOptions, SharedStoreOptions {
  /** Where the shared breaker keeps its state. Default `'dynamodb'` (embedded, nothing to set up). */
  readonly store?: StoreKind
}

/** The same fleet, the same invocations, run twice. */
export interface FleetComparison {
  readonly store: StoreKind
  /** One circuit state shared through the store. */
  readonly shared: FleetResult
  /** A circuit state per environment, in its own memory. */
  readonly perEnvironment: FleetResult
}

/**
 * Runs the same fleet and schedule twice: with fleet-breaker sharing one state through `store`,
 * then with a breaker per environment, each in its own memory. Starts and stops the store.
 *
 * @example
 * ```ts
 * const { shared, perEnvironment } = await compareFleetBreakers({ environments: 20, store: 'dynamodb' })
 * console.log(shared.outage.downstreamCalls, perEnvironment.outage.downstreamCalls)
 * ```
 */
export async function compareFleetBreakers(options: FleetComparisonOptions = {}): Promise<FleetComparison> {
  const store = options.store ?? StoreKind.DYNAMODB
  const backend = await startSharedStore(store, options)
  let shared: FleetResult
  try {
    shared = await runFleet(sharedStoreStrategy(backend), options)
  } finally {
    await backend.close()
  }
  const perEnvironment = await runFleet(perEnvironmentStrategy(), options)
  return { store, shared, perEnvironment }
}

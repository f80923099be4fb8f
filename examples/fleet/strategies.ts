import { MemoryStore } from '@fleet-breaker/core'
import { breakerCaller } from './breaker-caller.js'
import type { SharedStoreBackend } from './store-backend.js'
import type { FleetStrategy } from './strategy.js'

/**
 * fleet-breaker as it is meant to run on Lambda: every environment has its own breaker and its own
 * client, and all of them keep the circuit's state in one shared store.
 *
 * @example
 * ```ts
 * const backend = await startSharedStore('dynamodb')
 * const result = await runFleet(sharedStoreStrategy(backend), { environments: 20 })
 * await backend.close()
 * ```
 */
export function sharedStoreStrategy(backend: SharedStoreBackend): FleetStrategy {
  return {
    name: `shared (${backend.kind})`,
    description: `fleet-breaker with one circuit state shared through ${backend.description}`,
    async createEnvironment(context) {
      const connection = await backend.connect()
      return breakerCaller(context, {
        store: connection.store,
        reportStoreUsage: true,
        close: connection.close,
        ...(backend.storeTimeoutMs === undefined ? {} : { storeTimeoutMs: backend.storeTimeoutMs }),
      })
    },
    close: async () => {},
  }
}

/**
 * What a breaker that keeps its state in memory gives on Lambda: every environment has a circuit
 * of its own (its own {@link MemoryStore}), counts its own failures and probes on its own.
 *
 * @example
 * ```ts
 * const result = await runFleet(perEnvironmentStrategy(), { environments: 20 })
 * ```
 */
export function perEnvironmentStrategy(): FleetStrategy {
  return {
    name: 'per-environment',
    description: 'a breaker per environment, each with its state in its own memory',
    createEnvironment: async (context) => breakerCaller(context, { store: new MemoryStore(), reportStoreUsage: false }),
    close: async () => {},
  }
}

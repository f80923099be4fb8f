import type { BreakerMetricUnit, PowertoolsMetricsLike, SingleMetricLike } from '@fleet-breaker/core'

/**
 * What CloudWatch would sum over the fleet: a stand-in for a Powertools `Metrics` instance that
 * every environment's breaker emits into (its `metrics` option), tallying each metric by name
 * instead of writing EMF to stdout. Transitions are counted only by the environment that made
 * them, so with a shared state `CircuitOpened` is 1 per opening however large the fleet; with a
 * breaker per environment, every environment opens (and alarms) on its own.
 *
 * @example
 * ```ts
 * const metrics = new MetricTotals()
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store, metrics })
 * console.log(metrics.totals().CircuitOpened ?? 0)
 * ```
 */
export class MetricTotals implements PowertoolsMetricsLike {
  readonly #totals = new Map<string, number>()

  singleMetric(): SingleMetricLike {
    return {
      addMetric: (name: string, unit: BreakerMetricUnit, value: number) => {
        // Latencies are not summed into the totals: only counts mean something added up.
        if (unit === 'Count') this.#totals.set(name, (this.#totals.get(name) ?? 0) + value)
      },
      addMetadata: () => undefined,
      setDefaultDimensions: () => undefined,
    }
  }

  /** Each Count metric's sum over the fleet so far. */
  totals(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#totals)
  }
}

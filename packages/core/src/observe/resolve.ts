import { InvalidConfigurationError } from '../errors.js'
import type { BreakerObserver } from './observer.js'
import { isPowertoolsMetrics, PowertoolsMetricsObserver } from './powertools-metrics.js'

/** The observer options as the breaker's options carry them. */
export interface ObserverOptions {
  readonly observers?: readonly BreakerObserver[]
  readonly metrics?: unknown
}

/**
 * The observers a breaker tells: `observers` as given, then the Powertools adapter when `metrics`
 * is set. Throws {@link InvalidConfigurationError} naming the option when either is malformed.
 */
export function resolveObservers(options: ObserverOptions, circuitId: string): readonly BreakerObserver[] {
  const { observers = [], metrics } = options
  if (!Array.isArray(observers)) throw new InvalidConfigurationError('observers', observers, 'an array of observers')
  observers.forEach((observer: unknown, index) => {
    if (typeof observer !== 'object' || observer === null) {
      throw new InvalidConfigurationError(`observers[${index}]`, observer, 'an object with on... methods')
    }
  })
  if (metrics === undefined) return Object.freeze([...observers])
  if (!isPowertoolsMetrics(metrics)) {
    throw new InvalidConfigurationError(
      'metrics',
      metrics,
      'a Powertools Metrics instance (@aws-lambda-powertools/metrics)',
    )
  }
  return Object.freeze([...observers, new PowertoolsMetricsObserver(metrics, circuitId)])
}

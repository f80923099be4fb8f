import type { BreakerSettings } from './strategy.js'

/** How long each phase of a run lasts, in milliseconds. */
export interface PhaseDurations {
  /** The downstream answers 200. */
  readonly healthyMs: number
  /** The downstream answers 503. */
  readonly outageMs: number
  /** The downstream answers 200 again. */
  readonly recoveredMs: number
}

/** The phases of a run, in order. */
export type Phase = 'healthy' | 'outage' | 'recovered'

/**
 * Options of a fleet run. Every one has a default; with the defaults a run takes about 7.5 s.
 *
 * @example
 * ```ts
 * const options: FleetOptions = { environments: 50, failureThreshold: 3, seed: 7, phases: { outageMs: 5_000 } }
 * ```
 */
export interface FleetOptions {
  /** Execution environments invoked at once. Default 20. */
  readonly environments?: number
  /**
   * Seeds the arrival schedule: the same seed invokes the same environments at the same planned
   * times. Only the schedule repeats: the run itself is real time and real I/O, so the counts it
   * measures vary a little between runs. Default 1.
   */
  readonly seed?: number
  /** Default: healthy 1 500, outage 3 000, recovered 3 000. */
  readonly phases?: Partial<PhaseDurations>
  /** Mean invocations a second, per environment. Default 5. */
  readonly invocationsPerSecond?: number
  /** How long the downstream takes to answer, in milliseconds. Default 10. */
  readonly downstreamLatencyMs?: number
  /** Width of the timeline's buckets, in milliseconds. Default 100. */
  readonly timelineBucketMs?: number
  /** Failures that open the circuit. Default 5. */
  readonly failureThreshold?: number
  /** How long the circuit stays open the first time. Default 1 000 (short, to fit a demo). */
  readonly resetTimeoutMs?: number
  /** Cap of the backoff after failed probes. Default: the breaker's. */
  readonly maxResetTimeoutMs?: number
  /** Probes at once while half-open. Default 1. */
  readonly halfOpenMaxProbes?: number
  /** How long a CLOSED view is trusted without reading the store. Default: the breaker's (5 000). */
  readonly cacheTtlMs?: number
  /** Deadline of each downstream call. Default 1 000. */
  readonly callTimeoutMs?: number
}

/** Options with every default filled in. */
export interface ResolvedFleetOptions {
  readonly environments: number
  readonly seed: number
  readonly phases: PhaseDurations
  readonly invocationsPerSecond: number
  readonly downstreamLatencyMs: number
  readonly timelineBucketMs: number
  readonly breaker: BreakerSettings
}

/** The defaults of {@link FleetOptions}. */
export const FLEET_DEFAULTS = {
  environments: 20,
  seed: 1,
  phases: { healthyMs: 1_500, outageMs: 3_000, recoveredMs: 3_000 },
  invocationsPerSecond: 5,
  downstreamLatencyMs: 10,
  timelineBucketMs: 100,
  failureThreshold: 5,
  resetTimeoutMs: 1_000,
  halfOpenMaxProbes: 1,
  callTimeoutMs: 1_000,
} as const

/**
 * Fills in the defaults and checks every value, throwing a `RangeError` that names the option.
 *
 * @example
 * ```ts
 * resolveFleetOptions({ environments: 0 }) // RangeError: environments must be an integer from 1 to 10000; received 0
 * ```
 */
export function resolveFleetOptions(options: FleetOptions = {}): ResolvedFleetOptions {
  const phases = { ...FLEET_DEFAULTS.phases, ...options.phases }
  const breaker: BreakerSettings = {
    failureThreshold: integer('failureThreshold', options.failureThreshold ?? FLEET_DEFAULTS.failureThreshold, 1),
    resetTimeoutMs: integer('resetTimeoutMs', options.resetTimeoutMs ?? FLEET_DEFAULTS.resetTimeoutMs, 1),
    halfOpenMaxProbes: integer(
      'halfOpenMaxProbes',
      options.halfOpenMaxProbes ?? FLEET_DEFAULTS.halfOpenMaxProbes,
      1,
      16,
    ),
    callTimeoutMs: integer('callTimeoutMs', options.callTimeoutMs ?? FLEET_DEFAULTS.callTimeoutMs, 1),
    ...(options.maxResetTimeoutMs === undefined
      ? {}
      : { maxResetTimeoutMs: integer('maxResetTimeoutMs', options.maxResetTimeoutMs, 1) }),
    ...(options.cacheTtlMs === undefined ? {} : { cacheTtlMs: integer('cacheTtlMs', options.cacheTtlMs, 0) }),
  }
  return {
    environments: integer('environments', options.environments ?? FLEET_DEFAULTS.environments, 1, 10_000),
    seed: integer('seed', options.seed ?? FLEET_DEFAULTS.seed, 0, 0xffff_ffff),
    phases: {
      healthyMs: integer('phases.healthyMs', phases.healthyMs, 0),
      outageMs: integer('phases.outageMs', phases.outageMs, 1),
      recoveredMs: integer('phases.recoveredMs', phases.recoveredMs, 0),
    },
    invocationsPerSecond: positive(
      'invocationsPerSecond',
      options.invocationsPerSecond ?? FLEET_DEFAULTS.invocationsPerSecond,
    ),
    downstreamLatencyMs: integer(
      'downstreamLatencyMs',
      options.downstreamLatencyMs ?? FLEET_DEFAULTS.downstreamLatencyMs,
      0,
    ),
    timelineBucketMs: integer('timelineBucketMs', options.timelineBucketMs ?? FLEET_DEFAULTS.timelineBucketMs, 1),
    breaker,
  }
}

function integer(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`
    throw new RangeError(`${name} must be an integer ${range}; received ${value}`)
  }
  return value
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a number above 0; received ${value}`)
  return value
}

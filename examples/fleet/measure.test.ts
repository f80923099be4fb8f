import { describe, expect, it } from '@jest/globals'
import { type FleetRecording, measureFleet } from './measure.js'
import type { InvocationRecord, TransitionRecord } from './records.js'

/* The rules that turn a run's records into its measures, on records written by hand. */

const phases = { outageStartedAtMs: 100, recoveredAtMs: 300, endedAtMs: 400 }

function invocation(
  environment: number,
  at: number,
  status: number | undefined,
  probe = false,
  durationMs = 5,
): InvocationRecord {
  return {
    environment,
    plannedAtMs: at,
    startedAtMs: at,
    endedAtMs: at + durationMs,
    outcome: status === undefined ? 'rejected' : 'called',
    probe,
    ...(status === undefined ? {} : { request: { startedAtMs: at, endedAtMs: at + durationMs, status } }),
  }
}

function transition(environment: number, atMs: number, from: string, to: string): TransitionRecord {
  return {
    environment,
    atMs,
    from: from as TransitionRecord['from'],
    to: to as TransitionRecord['to'],
    reason: 'test',
    origin: 'local',
  }
}

function recording(overrides: Partial<FleetRecording>): FleetRecording {
  return {
    strategy: 'test',
    description: 'records written by hand',
    environments: 2,
    seed: 1,
    settings: { failureThreshold: 2, resetTimeoutMs: 100, halfOpenMaxProbes: 1, callTimeoutMs: 100 },
    phases,
    invocations: [],
    downstream: [],
    transitions: [],
    storeUsage: [],
    timelineBucketMs: 100,
    warnings: [],
    ...overrides,
  }
}

describe('the measures of a run', () => {
  it('time the fleet as open after its last failed call that was not a probe', () => {
    const result = measureFleet(
      recording({
        invocations: [
          invocation(0, 50, 200),
          invocation(0, 110, 503),
          invocation(1, 140, 503),
          invocation(1, 150, undefined),
          invocation(0, 250, 503, true),
        ],
      }),
    )
    expect(result.outage.fleetOpenMs).toBe(40)
    expect(result.outage.probes).toBe(1)
  })

  it('count probes in flight at once, an end and a start at one instant not overlapping', () => {
    const result = measureFleet(
      recording({
        invocations: [
          invocation(0, 310, 200, true, 10),
          invocation(1, 320, 200, true, 10),
          invocation(0, 325, 200, true, 10),
        ],
      }),
    )
    expect(result.maxConcurrentProbes).toBe(2)
    expect(result.recovery.probes).toBe(3)
  })

  it('time the opening and the closing from the first local transitions after outage and recovery', () => {
    const result = measureFleet(
      recording({
        transitions: [
          transition(1, 130, 'CLOSED', 'OPEN'),
          transition(0, 180, 'CLOSED', 'OPEN'),
          transition(0, 320, 'HALF_OPEN', 'CLOSED'),
          transition(1, 350, 'HALF_OPEN', 'CLOSED'),
        ],
      }),
    )
    expect(result.outage.firstOpenMs).toBe(30)
    expect(result.outage.environmentsTripped).toBe(2)
    expect(result.recovery.firstClosedMs).toBe(20)
    expect(result.recovery.lastClosedMs).toBe(50)
    expect(result.recovery.environmentsNotClosed).toBe(0)
    expect(result.transitions.local).toEqual({ 'CLOSED->OPEN': 2, 'HALF_OPEN->CLOSED': 2 })
  })

  it('divide store round trips by invocations, and leave them out when no environment reports any', () => {
    const invocations = [invocation(0, 10, 200), invocation(1, 20, 200), invocation(0, 30, 200), invocation(1, 40, 200)]
    const shared = measureFleet(
      recording({
        invocations,
        storeUsage: [
          { reads: 1, writes: 0 },
          { reads: 1, writes: 2 },
        ],
      }),
    )
    expect(shared.store).toEqual({ reads: 2, writes: 2, readsPerInvocation: 0.5, writesPerInvocation: 0.5 })
    expect(measureFleet(recording({ invocations })).store).toBeUndefined()
  })

  it('put the downstream requests and rejections in timeline buckets', () => {
    const result = measureFleet(
      recording({
        invocations: [invocation(0, 150, undefined), invocation(1, 160, undefined)],
        downstream: [
          { atMs: 20, duringOutage: false, status: 200 },
          { atMs: 120, duringOutage: true, status: 503 },
          { atMs: 399, duringOutage: false, status: 200 },
        ],
      }),
    )
    expect(result.timeline).toEqual([
      { startMs: 0, ok: 1, failed: 0, rejected: 0 },
      { startMs: 100, ok: 0, failed: 1, rejected: 2 },
      { startMs: 200, ok: 0, failed: 0, rejected: 0 },
      { startMs: 300, ok: 1, failed: 0, rejected: 0 },
    ])
    expect(result.downstream).toEqual({ total: 3, duringOutage: 1 })
    expect(result.outage.downstreamCalls).toBe(1)
  })
})

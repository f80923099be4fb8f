import type { CircuitState } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { ProgressPrinter } from './progress-printer.js'
import type { FleetProgress } from './simulator.js'

const totals = { invocations: 0, rejected: 0, downstreamCalls: 0, failedDownstreamCalls: 0 }

function transition(environment: number, from: CircuitState, to: CircuitState, sincePhaseMs: number): FleetProgress {
  return {
    type: 'transition',
    strategy: 'per-environment',
    phase: 'outage',
    sincePhaseMs,
    transition: { environment, from, to, origin: 'local', reason: 'failure-threshold', atMs: 1_500 + sincePhaseMs },
  }
}

/** The times at the start of the time column, in the order the lines were written. */
function timeColumn(lines: readonly string[]): number[] {
  return lines.flatMap((line) => {
    const match = /^ {15}\+(\d+\.\d\d) s/.exec(line)
    return match?.[1] === undefined ? [] : [Number(match[1])]
  })
}

describe('the demo timeline', () => {
  it('reads in time order down its time column, also when a phase had several kinds of change', () => {
    const lines: string[] = []
    const printer = new ProgressPrinter((line) => lines.push(line))
    printer.handle({ type: 'phase', strategy: 'per-environment', phase: 'outage', atMs: 1_500, totals })
    // As a run reports them, in time order; the second OPEN is only counted, not shown.
    printer.handle(transition(0, 'CLOSED', 'OPEN', 500))
    printer.handle(transition(0, 'OPEN', 'HALF_OPEN', 1_600))
    printer.handle(transition(1, 'CLOSED', 'OPEN', 1_650))
    printer.handle(transition(0, 'HALF_OPEN', 'OPEN', 1_700))
    printer.handle({ type: 'phase', strategy: 'per-environment', phase: 'recovered', atMs: 4_500, totals })

    const times = timeColumn(lines)
    expect(times).toEqual([0.5, 1.6, 1.7])
    expect(lines).toContainEqual(
      expect.stringContaining('1 more CLOSED->OPEN (2 environments in all), the last at +1.65 s'),
    )
  })
})

import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { fuzzRun, runFuzz, violations, type WriteFault } from './fuzz-support.js'

/**
 * Randomised fleets on a scheduler-driven backend (requests applied and answers delivered in any
 * order the scheduler picks), with record loss, operator actions and write faults mixed in. Each
 * property isolates one ingredient so that a failure points at its cause; see the targeted tests for
 * minimal versions of what each once found.
 */
const OPERATOR_REASONS = ['forced-open', 'forced-closed', 'override-ended', 'reset']
const none = () => [][Symbol.iterator]() as Iterator<never>

describe('fuzzed fleets', () => {
  it('record loss only (no fault): no observed event goes back to an older record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fuzzRun({ operators: false, loss: true }), async (scheduler, run) => {
        const outcome = await runFuzz(scheduler, run, none(), none())
        expect(violations(run, outcome)).toEqual([])
      }),
      { numRuns: 1_000, seed: 42 },
    )
  }, 60_000)

  it('operator actions only (no fault): each action is reported local once, and no lease is left behind', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fuzzRun({ operators: true, loss: false }), async (scheduler, run) => {
        const outcome = await runFuzz(scheduler, run, none(), none())
        const operatorLocal = outcome.changes.filter(
          (change) => change.origin === 'local' && OPERATOR_REASONS.includes(change.reason),
        ).length
        expect({ violations: violations(run, outcome), operatorLocal }).toEqual({
          violations: [],
          operatorLocal: outcome.operatorActions,
        })
      }),
      { numRuns: 300, seed: 42 },
    )
  }, 60_000)

  it('lost answers to applied writes and read errors (fail-open and fail-closed): probes within the bound, no orphaned lease', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fuzzRun({ operators: false, loss: false }),
        fc.infiniteStream(fc.constantFrom<WriteFault>('none', 'none', 'none', 'lose-answer')),
        fc.infiniteStream(fc.constantFrom(false, false, false, false, true)),
        async (scheduler, run, faults, reads) => {
          const outcome = await runFuzz(scheduler, run, faults, reads)
          expect(violations(run, outcome)).toEqual([])
        },
      ),
      { numRuns: 300, seed: 42 },
    )
  }, 60_000)
})

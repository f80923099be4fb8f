import { randomUUID } from 'node:crypto'
import {
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applyTransition,
  type CircuitRecord,
  CircuitState,
  initialRecord,
  type ProbeOutcome,
  type TransitionGuard,
  type TransitionTarget,
} from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * The store against core's reference meaning of every operation (store/semantics.ts), step by
 * step: a seeded random sequence of writes, from several store instances (each with its own, often
 * stale, view of the item) and with requests sent again, and after each write the answer must be
 * exactly what the reference makes of the previous answer. The caller's clock is this machine's,
 * as the service's is, so no clock correction blurs times.
 */

const TABLE = 'reference'
let dynamo: LocalDynamoDB

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await dynamo.stop()
})

/** A small deterministic generator (a linear congruential one), so a failing seed can be replayed. */
function generator(seed: number) {
  let state = seed
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  return {
    below: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    chance: (p: number) => next() < p,
  }
}

type Step =
  | { readonly kind: 'record'; readonly run: () => Promise<CircuitRecord>; readonly expected: CircuitRecord }
  | {
      readonly kind: 'probe'
      readonly run: () => Promise<ProbeOutcome>
      readonly expected: ProbeOutcome
    }
  | {
      readonly kind: 'transition'
      readonly run: () => Promise<{ applied: boolean; record: CircuitRecord }>
      readonly expected: { applied: boolean; record: CircuitRecord }
    }

describe.each([1, 2, 3, 4])('DynamoDBStore against the reference, seed %i', (seed) => {
  it('answers every write as the reference does', async () => {
    const random = generator(seed)
    const circuitId = `reference-${seed}-${randomUUID()}`
    const stores = Array.from({ length: 3 }, () => new DynamoDBStore({ tableName: TABLE, client: dynamo.client() }))
    const environments = ['env-a', 'env-b', 'env-c']
    let current: CircuitRecord = initialRecord(circuitId)
    const sent: Array<() => Step> = []
    let skew = 0
    const now = () => Date.now() + skew

    const stepFor = (record: CircuitRecord): (() => Step) => {
      const store = random.pick(stores)
      const opId = randomUUID()
      const generation = random.chance(0.9) ? record.generation : random.below(record.generation + 2)
      const windowMs = random.pick([50, 60_000])
      // Writes may name the life of the record they were admitted under: this one, a lost one, or none.
      const fence = random.pick([{}, {}, { incarnation: record.incarnation }, { incarnation: 'a-lost-life' }])
      const choice = random.below(10)
      const at = now()
      if (choice <= 2) {
        const environment = random.chance(0.7) ? random.pick(environments) : undefined
        const request = {
          opId,
          generation,
          windowMs,
          now: at,
          ...fence,
          ...(environment === undefined ? {} : { environment }),
        }
        return () => ({
          kind: 'record',
          run: () => store.addFailure(circuitId, request),
          expected: applyAddFailure(current, request),
        })
      }
      if (choice === 3) {
        const environment = random.pick(environments)
        const request = {
          opId,
          generation,
          windowMs,
          now: at,
          calls: random.below(5),
          failures: random.below(3),
          slowCalls: random.below(2),
          environment,
          ...fence,
        }
        return () => ({
          kind: 'record',
          run: () => store.addCounts(circuitId, request),
          expected: applyAddCounts(current, request),
        })
      }
      if (choice === 4) {
        const request = { opId, generation, now: at, ...fence }
        return () => ({
          kind: 'record',
          run: () => store.resetFailures(circuitId, request),
          expected: applyResetFailures(current, request),
        })
      }
      if (choice === 5 || choice === 6) {
        const token = randomUUID()
        const targets: TransitionTarget[] = [
          { state: CircuitState.OPEN, openCount: 1 + random.below(3), retryInMs: random.pick([1, 60_000]) },
          { state: CircuitState.HALF_OPEN, probe: { token, leaseMs: random.pick([1, 30_000]) } },
          { state: CircuitState.CLOSED },
        ]
        const held = record.state === CircuitState.HALF_OPEN ? record.probes[0]?.token : undefined
        const guards: TransitionGuard[] = [
          {},
          { minFailures: random.below(4) },
          { minCalls: random.below(6), maxCalls: 4 + random.below(6) },
          { minSlowCalls: random.below(2), minEnvironments: random.below(3) },
          { retryDue: true },
          { minSuccesses: random.below(2) },
          { probeToken: held ?? token },
        ]
        const request = {
          opId,
          now: at,
          from: {
            state: random.chance(0.8) ? record.state : random.pick(Object.values(CircuitState)),
            generation,
            ...fence,
          },
          guard: random.pick(guards),
          to: random.pick(targets),
        }
        return () => ({
          kind: 'transition',
          run: () => store.transition(circuitId, request),
          expected: applyTransition(current, request),
        })
      }
      if (choice === 7) {
        const token = randomUUID()
        const request = { opId: token, generation, now: at, token, maxProbes: 1 + random.below(3), leaseMs: 30_000 }
        return () => ({
          kind: 'probe',
          run: () => store.acquireProbe(circuitId, request),
          expected: applyAcquireProbe(current, request),
        })
      }
      if (choice === 8) {
        const holders = record.state === CircuitState.HALF_OPEN ? record.probes.map((lease) => lease.token) : []
        const token = holders.length > 0 && random.chance(0.8) ? random.pick(holders) : randomUUID()
        const request = { opId, generation, now: at, token, success: random.chance(0.6) }
        return () => ({
          kind: 'record',
          run: () => store.completeProbe(circuitId, request),
          expected: applyCompleteProbe(current, request),
        })
      }
      if (random.chance(0.8)) {
        const forced = random.chance(0.5)
          ? undefined
          : { state: random.pick([CircuitState.OPEN, CircuitState.CLOSED] as const), durationMs: 60_000 }
        const request = { opId, now: at, ...(forced === undefined ? {} : { forced }) }
        return () => ({
          kind: 'record',
          run: () => store.setForced(circuitId, request),
          expected: applySetForced(current, forced, request),
        })
      }
      const request = { opId, now: at }
      return () => ({
        kind: 'record',
        run: () => store.reset(circuitId, request),
        expected: applyReset(current, request),
      })
    }

    for (let index = 0; index < 150; index++) {
      // Now and then a request is sent again (a retry), or the clock moves past short windows.
      const again = sent.length > 0 && random.chance(0.15)
      const make: () => Step = again ? random.pick(sent) : stepFor(current)
      if (!again) sent.push(make)
      if (random.chance(0.1)) skew += 100
      const step: Step = make()
      const context = `step ${index} (${again ? 'sent again' : 'new'})`
      if (step.kind === 'record') {
        const answer: CircuitRecord = await step.run()
        expect({ context, record: answer }).toEqual({ context, record: step.expected })
        current = answer
      } else if (step.kind === 'probe') {
        const answer: ProbeOutcome = await step.run()
        expect({ context, outcome: answer }).toEqual({ context, outcome: step.expected })
        current = answer.record
      } else {
        const answer: { applied: boolean; record: CircuitRecord } = await step.run()
        expect({ context, outcome: answer }).toEqual({ context, outcome: step.expected })
        current = answer.record
      }
    }
  }, 120_000)
})

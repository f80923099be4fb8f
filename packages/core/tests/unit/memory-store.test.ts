import { randomUUID } from 'node:crypto'
import { CircuitState, InvalidConfigurationError, MemoryStore } from '@fleet-breaker/core'
import { type ConformanceHarness, ManualClock, storeConformanceCases } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'

function memoryHarness(): ConformanceHarness {
  const shared = new MemoryStore()
  const clock = new ManualClock()
  return {
    createStore: () => shared,
    now: clock.now,
    advance: async (ms) => clock.advance(ms),
  }
}

describe('MemoryStore conformance', () => {
  for (const conformanceCase of storeConformanceCases) {
    it(conformanceCase.name, () => conformanceCase.run(memoryHarness()), conformanceCase.timeoutMs)
  }
})

describe('MemoryStore conformance, with records lost behind the store’s back', () => {
  const lostRecordCases = storeConformanceCases.filter((conformanceCase) =>
    conformanceCase.name.includes('lost record'),
  )

  it('has lost-record cases to run', () => {
    expect(lostRecordCases.length).toBeGreaterThan(0)
  })

  it.each(lostRecordCases)('$name', async (conformanceCase) => {
    const shared = new MemoryStore()
    const clock = new ManualClock()
    const lost: string[] = []
    await conformanceCase.run({
      createStore: () => shared,
      now: clock.now,
      advance: async (ms) => clock.advance(ms),
      loseRecord: async (circuitId) => {
        lost.push(circuitId)
        await shared.clearMany([circuitId])
      },
    })
    expect(lost.length).toBeGreaterThan(0)
  })
})

describe('MemoryStore', () => {
  const write = (now = 1) => ({ opId: randomUUID(), now })

  it('rejects a negative simulated latency with a typed error naming the option', () => {
    expect(() => new MemoryStore({ latencyMs: -1 })).toThrow(InvalidConfigurationError)
    expect(() => new MemoryStore({ latencyMs: -1 })).toThrow(/latencyMs .* received -1/)
  })

  it('hands out records that cannot be changed behind its back', async () => {
    const store = new MemoryStore()
    const record = await store.addFailure('frozen', { ...write(), generation: 0, windowMs: 1_000 })
    expect(Object.isFrozen(record)).toBe(true)
    expect(Object.isFrozen(record.recentOps)).toBe(true)
    const forced = await store.setForced('frozen', { ...write(), forced: { state: CircuitState.OPEN } })
    expect(Object.isFrozen(forced.forced)).toBe(true)
  })

  it('names a record after the write that created it and keeps the name until the record is cleared', async () => {
    const store = new MemoryStore()
    const first = { ...write(), generation: 0, windowMs: 1_000 }
    await store.addFailure('named', first)
    await store.addFailure('named', { ...write(2), generation: 0, windowMs: 1_000 })
    expect(await store.get('named')).toMatchObject({ incarnation: first.opId, failures: 2 })
    await store.clearMany(['named'])
    const again = { ...write(3), generation: 0, windowMs: 1_000 }
    expect(await store.addFailure('named', again)).toMatchObject({ incarnation: again.opId, failures: 1 })
  })

  it('answers a write that changes nothing with the record it holds, unchanged', async () => {
    const store = new MemoryStore()
    const request = { ...write(), generation: 0, windowMs: 1_000 }
    const first = await store.addFailure('unchanged', request)
    expect(await store.addFailure('unchanged', request)).toBe(first)
    expect(await store.addFailure('unchanged', { ...write(), generation: 7, windowMs: 1_000 })).toBe(first)
  })

  it('starts one generation per circuit for a batch override applied twice', async () => {
    const store = new MemoryStore()
    const request = write()
    const entries = [{ circuitId: 'a', forced: { state: CircuitState.OPEN } }, { circuitId: 'b' }] as const
    await store.setMany(entries, request)
    await store.setMany(entries, request)
    const records = await store.getMany(['a', 'b'])
    expect([...records.values()].map((record) => [record.generation, record.changedBy])).toEqual([
      [1, request.opId],
      [1, request.opId],
    ])
  })

  it('gives up a call whose signal is aborted before the store answers', async () => {
    const store = new MemoryStore({ latencyMs: 50 })
    const controller = new AbortController()
    const pending = store.addFailure('aborted', { ...write(), generation: 0, windowMs: 1_000 }, controller)
    controller.abort(new Error('deadline'))
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(await store.get('aborted')).toBeUndefined()
  })
})

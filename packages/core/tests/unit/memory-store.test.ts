import { InvalidConfigurationError, MemoryStore } from '@fleet-breaker/core'
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
  it.each(storeConformanceCases)('$name', (conformanceCase) => conformanceCase.run(memoryHarness()))
})

describe('MemoryStore', () => {
  it('rejects a negative simulated latency with a typed error naming the option', () => {
    expect(() => new MemoryStore({ latencyMs: -1 })).toThrow(InvalidConfigurationError)
    expect(() => new MemoryStore({ latencyMs: -1 })).toThrow(/latencyMs .* received -1/)
  })

  it('hands out records that cannot be changed behind its back', async () => {
    const store = new MemoryStore()
    const record = await store.addFailure('frozen', { generation: 0, now: 1, windowMs: 1_000 })
    expect(Object.isFrozen(record)).toBe(true)
  })
})

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { CircuitState, isCircuitOpenError, isStoreUnavailableError, StoreUnavailableError } from '@fleet-breaker/core'
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

describe('a store that errors', () => {
  it('fails open by default: the call goes through and the caller gets its own result', async () => {
    const { breaker, store } = fleet(1)
    store.fault = 'error'
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    const error = await rejectionOf(breaker.execute(fails))
    expect((error as Error).message).toBe('downstream answered 503')
  })

  it('fails closed when asked to, with the store error as the cause', async () => {
    const { breaker, store } = fleet(1, { storeOutage: 'fail-closed' })
    store.fault = 'error'
    const downstream = jest.fn(succeeds)
    const error = await rejectionOf(breaker.execute(downstream))
    expect(downstream).not.toHaveBeenCalled()
    expect(error).toBeInstanceOf(StoreUnavailableError)
    expect(isStoreUnavailableError(error)).toBe(true)
    expect((error as Error).cause).toBeInstanceOf(Error)
  })

  it('logs one warning per outage, not one per call, and one entry when the store is back', async () => {
    const { breaker, store, logger, clock } = fleet(1, { cacheTtlMs: 0, storeRetryIntervalMs: 1_000 })
    store.fault = 'error'
    for (let i = 0; i < 30; i++) {
      await breaker.execute(succeeds)
      clock.advance(100)
    }
    const warnings = logger.entries.filter((entry) => entry.level === 'warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.details).toMatchObject({ circuitId: 'payment-api', operation: 'get', policy: 'fail-open' })
    store.fault = 'none'
    clock.advance(1_000)
    await breaker.execute(succeeds)
    const recovered = logger.entries.filter((entry) => entry.level === 'info')
    expect(recovered).toHaveLength(1)
    expect(recovered[0]?.details).toMatchObject({ circuitId: 'payment-api' })
  })

  it('does not ask a failing store again until the retry interval has passed', async () => {
    const { breaker, store, clock } = fleet(1, { cacheTtlMs: 0, storeRetryIntervalMs: 1_000 })
    store.fault = 'error'
    await breaker.execute(succeeds)
    store.resetCounts()
    for (let i = 0; i < 9; i++) {
      clock.advance(100)
      await breaker.execute(succeeds)
    }
    expect(store.roundTrips).toBe(0)
    clock.advance(100)
    await breaker.execute(succeeds)
    expect(store.roundTrips).toBe(1)
  })

  it('honours a cached OPEN state through the outage', async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 1 })
    await rejectionOf(breaker.execute(fails))
    store.fault = 'error'
    expect(isCircuitOpenError(await rejectionOf(breaker.execute(succeeds)))).toBe(true)
  })

  it('recovers when the store comes back: failures count and open the circuit again', async () => {
    const { breaker, store, clock } = fleet(1, {
      failureThreshold: 2,
      cacheTtlMs: 0,
      storeRetryIntervalMs: 500,
      resetTimeoutMs: 1_000,
    })
    store.fault = 'error'
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).source).toBe('cache')
    store.fault = 'none'
    clock.advance(1_000) // past the local opening the two uncounted failures caused
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('reports manual actions that fail instead of swallowing them', async () => {
    const { breaker, store } = fleet(1)
    store.fault = 'error'
    const error = await rejectionOf(breaker.forceOpen())
    expect(isStoreUnavailableError(error)).toBe(true)
    expect(((error as Error).cause as Error).message).toMatch(/injected store failure/)
  })
})

describe('a store that never answers', () => {
  beforeEach(() => {
    jest.useFakeTimers()
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('holds the caller for no longer than storeTimeoutMs, then applies the policy', async () => {
    const { breaker, store } = fleet(1, { storeTimeoutMs: 200 })
    store.fault = 'hang'
    let settled = false
    const call = breaker.execute(succeeds).finally(() => {
      settled = true
    })
    await jest.advanceTimersByTimeAsync(199)
    expect(settled).toBe(false)
    await jest.advanceTimersByTimeAsync(1)
    await expect(call).resolves.toBe('ok')
  })

  it('aborts the abandoned store call through its signal', async () => {
    const { breaker, store } = fleet(1, { storeTimeoutMs: 50, storeOutage: 'fail-closed' })
    store.fault = 'hang'
    const signals: AbortSignal[] = []
    const get = store.get.bind(store)
    store.get = (circuitId, options) => {
      if (options?.signal) signals.push(options.signal)
      return get(circuitId, options)
    }
    const call = rejectionOf(breaker.execute(succeeds))
    await jest.advanceTimersByTimeAsync(50)
    expect(isStoreUnavailableError(await call)).toBe(true)
    expect(signals).toHaveLength(1)
    expect(signals[0]?.aborted).toBe(true)
  })

  it('bounds the write that records a failure too', async () => {
    const { breaker, store } = fleet(1, { storeTimeoutMs: 100 })
    await breaker.getState()
    store.fault = 'hang'
    const call = rejectionOf(breaker.execute(fails))
    await jest.advanceTimersByTimeAsync(100)
    expect(((await call) as Error).message).toBe('downstream answered 503')
  })
})

describe('a store whose promises never settle', () => {
  it('still answers the caller at the store deadline when nothing else keeps the process alive', async () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const core = new URL('../../src/index.ts', import.meta.url).href
    const script = `
      const { CircuitBreaker, MemoryStore } = await import(${JSON.stringify(core)})
      const never = () => new Promise(() => {})
      const store = new Proxy(new MemoryStore(), { get: (target, name) => typeof target[name] === 'function' ? never : target[name] })
      const logger = { debug() {}, info() {}, warn() {}, error() {} }
      const breaker = new CircuitBreaker({ circuitId: 'payment-api', store, storeTimeoutMs: 200, logger })
      const answer = await breaker.execute(() => 'called')
      process.stdout.write('answered: ' + answer)
    `
    const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '--eval', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const guard = setTimeout(() => child.kill(), 45_000)
    const [code] = await once(child, 'exit')
    clearTimeout(guard)
    expect({ code, output }).toEqual({ code: 0, output: 'answered: called' })
  }, 60_000)
})

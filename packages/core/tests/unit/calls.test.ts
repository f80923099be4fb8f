import { getEventListeners } from 'node:events'
import {
  CallTimeoutError,
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
  ConcurrencyLimitError,
  type ExecuteOptions,
  type FallbackContext,
  InvalidConfigurationError,
  isCallTimeoutError,
  isConcurrencyLimitError,
  MemoryStore,
} from '@fleet-breaker/core'
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { BadRequest, fails, fleet, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

/** Two successful calls: the first reads the store, the second opens the hot lane for the calls after it. */
async function openHotLane(breaker: CircuitBreaker): Promise<void> {
  await breaker.execute(succeeds)
  await breaker.execute(succeeds)
}

/** Asserts that `breaker` runs exactly one call at a time: while one runs, the next is turned away. */
async function expectOneSlot(breaker: CircuitBreaker): Promise<void> {
  let release: () => void = () => {}
  const running = breaker.execute(() => new Promise<string>((resolve) => (release = () => resolve('held'))))
  expect(await rejectionOf(breaker.execute(succeeds))).toBeInstanceOf(ConcurrencyLimitError)
  release()
  await expect(running).resolves.toBe('held')
}

describe('callTimeoutMs', () => {
  beforeEach(() => {
    jest.useFakeTimers()
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('aborts the call through its signal, rejects with CallTimeoutError and counts a failure', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 1 })
    let seen: AbortSignal | undefined
    const call = rejectionOf(
      breaker.execute((signal) => {
        seen = signal
        return new Promise<string>(() => {})
      }),
    )
    await jest.advanceTimersByTimeAsync(1_000)
    const error = await call
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect(isCallTimeoutError(error)).toBe(true)
    expect(seen?.aborted).toBe(true)
    expect(seen?.reason).toBe(error)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('lets a call that finishes in time through untouched', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000 })
    const call = breaker.execute(() => new Promise<string>((resolve) => setTimeout(() => resolve('in time'), 999)))
    await jest.advanceTimersByTimeAsync(999)
    await expect(call).resolves.toBe('in time')
  })

  it('gives each call its own deadline, counted from when it started', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 10, maxConcurrent: 5 })
    const never = () => new Promise<string>(() => {})
    const settled: string[] = []
    const first = breaker.execute(never).catch(() => settled.push('first'))
    await jest.advanceTimersByTimeAsync(500)
    const second = breaker.execute(never).catch(() => settled.push('second'))
    await jest.advanceTimersByTimeAsync(500)
    expect(settled).toEqual(['first'])
    await jest.advanceTimersByTimeAsync(500)
    expect(settled).toEqual(['first', 'second'])
    await Promise.all([first, second])
  })

  it('keeps counting calls that time out and answer later: a late value clears no failure', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 3 })
    // Warm calls first, so the timed-out calls run on the hot lane as a steady service's do.
    await openHotLane(breaker)
    const answersLate = () => new Promise<string>((resolve) => setTimeout(() => resolve('too late'), 1_500))
    for (let call = 1; call <= 3; call += 1) {
      const timedOut = rejectionOf(breaker.execute(answersLate))
      await jest.advanceTimersByTimeAsync(1_000)
      expect(await timedOut).toBeInstanceOf(CallTimeoutError)
      // The value arrives after the deadline, before the next call.
      await jest.advanceTimersByTimeAsync(500)
      const state = await breaker.getState()
      if (call < 3) expect(state.failures).toBe(call)
      else expect(state.state).toBe(CircuitState.OPEN)
    }
  })

  it('frees the concurrency slot of a call that times out once, however late it answers', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 10, maxConcurrent: 1, maxQueued: 0 })
    await openHotLane(breaker)
    const answersLate = () => new Promise<string>((resolve) => setTimeout(() => resolve('too late'), 1_500))
    const timedOut = rejectionOf(breaker.execute(answersLate))
    await jest.advanceTimersByTimeAsync(1_000)
    expect(await timedOut).toBeInstanceOf(CallTimeoutError)
    await jest.advanceTimersByTimeAsync(500)
    // One slot: while one call runs, the next is turned away, as before the late answer.
    await expectOneSlot(breaker)
  })

  it('counts one failure per timeout of a call that rejects when its signal aborts, as fetch does', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 3 })
    await openHotLane(breaker)
    const rejectsOnAbort = (signal: AbortSignal) =>
      new Promise<string>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    for (let call = 1; call <= 3; call += 1) {
      const timedOut = rejectionOf(breaker.execute(rejectsOnAbort))
      await jest.advanceTimersByTimeAsync(1_000)
      expect(await timedOut).toBeInstanceOf(CallTimeoutError)
      const state = await breaker.getState()
      if (call < 3) expect(state.failures).toBe(call)
      else expect(state.state).toBe(CircuitState.OPEN)
    }
  })

  it('rejects, and gives its slot back, when the value a call returns has a then that throws', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, maxConcurrent: 1, maxQueued: 0 })
    await openHotLane(breaker)
    const broken = new Error('then getter')
    const throwingThen = () =>
      ({
        // biome-ignore lint/suspicious/noThenProperty: a value whose then getter throws, as a revoked Proxy's does
        get then() {
          throw broken
        },
      }) as unknown as Promise<string>
    expect(await rejectionOf(breaker.execute(throwingThen))).toBe(broken)
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })

  it('passes on a synchronous throw and a synchronous value under a deadline', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000 })
    const thrown = new ServiceUnavailable()
    await expect(
      breaker.execute(() => {
        throw thrown
      }),
    ).rejects.toBe(thrown)
    await expect(breaker.execute(() => 'at once')).resolves.toBe('at once')
  })

  it('records calls that settle together in the order they started, on every path', async () => {
    // Calls that settle within the same microtasks, and the state they leave when recorded in the
    // order they started (a previous failure counted, two to open). In another order the success
    // would come elsewhere in the run of failures.
    const batches: ReadonlyArray<readonly [ReadonlyArray<() => unknown>, CircuitState]> = [
      [
        [
          () => 'good',
          () => {
            throw new ServiceUnavailable()
          },
          () => Promise.resolve('bad'),
        ],
        CircuitState.OPEN,
      ],
      [[() => Promise.reject(new ServiceUnavailable()), () => 'good', () => 'bad'], CircuitState.CLOSED],
      [
        [
          () => 'good',
          () => Promise.reject(new ServiceUnavailable()),
          () => {
            throw new ServiceUnavailable()
          },
        ],
        CircuitState.OPEN,
      ],
    ]
    // `execute(fn)` takes the hot lane once the circuit is known closed; any options take the full
    // decision, with the shared deadline or (with a signal or the invocation's deadline) one of the call's own.
    const paths: ReadonlyArray<readonly [string, ExecuteOptions | undefined]> = [
      ['the hot lane', undefined],
      ['the full decision', {}],
      ['a signal', { signal: new AbortController().signal }],
      ['the invocation deadline', { lambdaContext: { getRemainingTimeInMillis: () => 60_000 } }],
    ]
    const timeouts = [1_000, undefined]
    const states: string[] = []
    for (const callTimeoutMs of timeouts) {
      for (const [path, options] of paths) {
        for (const [calls, expected] of batches) {
          const { breaker } = fleet(1, { callTimeoutMs, failureThreshold: 2, isFailureResult: (v) => v === 'bad' })
          await openHotLane(breaker)
          await breaker.execute(() => 'bad', options)
          await Promise.allSettled(calls.map((fn) => breaker.execute(fn, options)))
          const { state } = await breaker.getState()
          states.push(`${path}, callTimeoutMs ${callTimeoutMs}: ${state === expected ? 'as started' : state}`)
        }
      }
    }
    const asStarted = timeouts.flatMap((callTimeoutMs) =>
      paths.flatMap(([path]) => batches.map(() => `${path}, callTimeoutMs ${callTimeoutMs}: as started`)),
    )
    expect(states).toEqual(asStarted)
  })

  for (const [path, run] of [
    ['the hot lane', (breaker: CircuitBreaker, fn: () => unknown) => breaker.execute(fn)],
    ['the full decision', (breaker: CircuitBreaker, fn: () => unknown) => breaker.execute(fn, {})],
    [
      'a signal',
      (breaker: CircuitBreaker, fn: () => unknown) => breaker.execute(fn, { signal: new AbortController().signal }),
    ],
  ] as const) {
    it(`takes a native promise's outcome whatever its own then does, on ${path}`, async () => {
      const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 2, maxConcurrent: 1, maxQueued: 0 })
      await openHotLane(breaker)
      const withOwnThen = (value: string, then: unknown) =>
        Object.defineProperty(Promise.resolve(value), 'then', { value: then })
      // A then that is not a function, one that throws, one that would report a failure twice.
      await expect(run(breaker, () => withOwnThen('first', undefined))).resolves.toBe('first')
      const throws = () => {
        throw new ServiceUnavailable()
      }
      await expect(run(breaker, () => withOwnThen('second', throws))).resolves.toBe('second')
      const failsTwice = (_: unknown, onError: (error: unknown) => void) => {
        onError(new ServiceUnavailable())
        onError(new ServiceUnavailable())
      }
      await expect(run(breaker, () => withOwnThen('third', failsTwice))).resolves.toBe('third')
      // Past every deadline: nothing timed out, nothing counted, the one slot is free.
      await jest.advanceTimersByTimeAsync(2_000)
      expect((await breaker.getState()).failures).toBe(0)
      await expectOneSlot(breaker)
    })
  }

  it('takes the failure of a rejected native promise whose then getter throws, on every path', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 10 })
    await openHotLane(breaker)
    const failure = new ServiceUnavailable()
    const rejectsWithBrokenThen = () =>
      Object.defineProperty(Promise.reject(failure), 'then', {
        get() {
          throw new Error('then getter')
        },
      })
    for (const options of [undefined, {}, { signal: new AbortController().signal }]) {
      expect(await rejectionOf(breaker.execute(rejectsWithBrokenThen, options))).toBe(failure)
    }
    expect((await breaker.getState()).failures).toBe(3)
  })

  it('times out a pending native promise whose own then is not a function, and frees its slot', async () => {
    const { breaker } = fleet(1, { callTimeoutMs: 1_000, failureThreshold: 10, maxConcurrent: 1, maxQueued: 0 })
    await openHotLane(breaker)
    const hangsWithoutThen = () => Object.defineProperty(new Promise(() => {}), 'then', { value: undefined })
    for (const options of [undefined, {}, { signal: new AbortController().signal }]) {
      const call = rejectionOf(breaker.execute(hangsWithoutThen, options))
      await jest.advanceTimersByTimeAsync(1_000)
      expect(await call).toBeInstanceOf(CallTimeoutError)
      expect((await breaker.getState()).failures).toBe(1)
      // (A success through the one slot, which clears the count for the next path.)
      await expectOneSlot(breaker)
    }
  })

  it('rejects with a typed error, counting nothing and freeing the slot, for a deadline that is no time', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1, maxConcurrent: 1, maxQueued: 0 })
    for (const deadline of [Number.NaN, '1700000000000' as unknown as number]) {
      const notATime = rejectionOf(breaker.execute(succeeds, { deadline }))
      expect(await notATime).toBeInstanceOf(InvalidConfigurationError)
      expect(await notATime).toMatchObject({ option: 'deadline', value: deadline })
    }
    const clockFails = new Error('no context clock')
    const context = {
      getRemainingTimeInMillis: (): number => {
        throw clockFails
      },
    }
    expect(await rejectionOf(breaker.execute(succeeds, { lambdaContext: context }))).toBe(clockFails)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
    await expectOneSlot(breaker)
  })

  it('does not count a call the caller cancelled', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1 })
    const controller = new AbortController()
    const call = rejectionOf(
      breaker.execute(
        (signal) =>
          new Promise<string>((_resolve, reject) => {
            signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })))
          }),
        { signal: controller.signal },
      ),
    )
    controller.abort()
    await call
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })
})

describe('the signal a call is given', () => {
  it('keeps no abort listener on the signal of a call that can never be aborted', async () => {
    const { breaker } = fleet(1)
    const signals = new Set<AbortSignal>()
    const addsListener = (signal: AbortSignal) => {
      signals.add(signal)
      // As a wrapper that never removes its listener does (and `fetch`, until its request is collected).
      signal.addEventListener('abort', () => {})
      return 'ok'
    }
    for (let call = 0; call < 5; call++) {
      await breaker.execute(addsListener)
      await breaker.execute(addsListener, {})
    }
    // One shared signal, which would otherwise have gathered ten listeners that can never run.
    expect([...signals].map((signal) => getEventListeners(signal, 'abort').length)).toEqual([0])
  })

  it('lets a call set the onabort of the never-aborted signal, again and again', async () => {
    const { breaker } = fleet(1)
    const setsOnabort = (signal: AbortSignal) => {
      const handler = () => {}
      signal.onabort = handler
      const kept = signal.onabort === handler
      signal.onabort = null
      return kept ? 'kept' : 'lost'
    }
    const answers: unknown[] = []
    for (let call = 0; call < 3; call++) {
      answers.push(await breaker.execute(setsOnabort), await breaker.execute(setsOnabort, {}))
    }
    expect(answers).toEqual(Array(6).fill('kept'))
    // As a browser keeps it: an object as it is, anything else as null.
    const listener = { handleEvent() {} }
    const readBack = await breaker.execute((signal) => {
      signal.onabort = listener as unknown as AbortSignal['onabort']
      const object = signal.onabort
      signal.onabort = 'not a handler' as unknown as AbortSignal['onabort']
      return [(object as unknown) === listener, signal.onabort]
    })
    expect(readBack).toEqual([true, null])
  })

  it('sets no deadline for one further away than a timer can count', async () => {
    const { breaker, clock } = fleet(1)
    const thirtyDays = 30 * 24 * 60 * 60_000
    const answersSoon = () => new Promise((resolve) => setTimeout(() => resolve('ok'), 20))
    await expect(breaker.execute(answersSoon, { deadline: clock.now() + thirtyDays })).resolves.toBe('ok')
    expect((await breaker.getState()).failures).toBe(0)
  })

  it('leaves no rejection unhandled when the call aborts the caller signal itself and fails later', async () => {
    const { breaker } = fleet(1)
    const caller = new AbortController()
    const gaveUp = new Error('the caller gave up')
    const call = breaker.execute(
      () => {
        caller.abort(gaveUp)
        return {
          // biome-ignore lint/suspicious/noThenProperty: a foreign thenable that fails once the caller has gone
          then: (_: unknown, reject: (error: unknown) => void) =>
            setTimeout(() => reject(new ServiceUnavailable()), 10),
        }
      },
      { signal: caller.signal },
    )
    expect(await rejectionOf(call)).toBe(gaveUp)
    // The downstream's failure arrives after the caller gave up: dropped, not left unhandled (which
    // fails this test) and not counted.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect((await breaker.getState()).failures).toBe(0)
  })
})

describe('maxConcurrent', () => {
  it('gives a slot back once for a promise whose own then calls the handler twice', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 1, maxQueued: 0 })
    await openHotLane(breaker)
    const callsTwice = () => {
      const promise = Promise.resolve('v')
      const then = promise.then.bind(promise)
      Object.defineProperty(promise, 'then', {
        value: (onValue: (value: string) => unknown, onError: (error: unknown) => unknown) =>
          then((value) => {
            onValue(value)
            return onValue(value)
          }, onError),
      })
      return promise
    }
    await expect(breaker.execute(callsTwice)).resolves.toBe('v')
    await expectOneSlot(breaker)
  })

  it('queues up to maxQueued calls beyond the limit, then rejects without counting a failure', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 2, maxQueued: 1, failureThreshold: 1 })
    let started = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow = async () => {
      started++
      await gate
      return 'slow'
    }
    const running = [breaker.execute(slow), breaker.execute(slow), breaker.execute(slow)]
    const rejected = await rejectionOf(breaker.execute(slow))
    expect(rejected).toBeInstanceOf(ConcurrencyLimitError)
    expect(isConcurrencyLimitError(rejected)).toBe(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(started).toBe(2)
    release()
    await expect(Promise.all(running)).resolves.toEqual(['slow', 'slow', 'slow'])
    expect(started).toBe(3)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('frees the slot of a rejected call', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 1, maxQueued: 0, failureThreshold: 1 })
    await rejectionOf(breaker.execute(fails)) // opens the circuit
    for (let i = 0; i < 5; i++) await rejectionOf(breaker.execute(succeeds))
    await breaker.reset()
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })
})

describe('fallback', () => {
  it('replaces a rejection, telling the fallback the call was never made', async () => {
    const fallback = jest.fn((_error: unknown, _context: FallbackContext) => 'cached quote')
    const breaker = new CircuitBreaker({ circuitId: 'quotes', store: new MemoryStore(), failureThreshold: 1, fallback })
    await expect(breaker.execute(fails)).resolves.toBe('cached quote')
    await expect(breaker.execute(succeeds)).resolves.toBe('cached quote')
    expect(fallback.mock.calls.map(([error, context]) => [(error as Error).constructor, context.kind])).toEqual([
      [ServiceUnavailable, 'failed'],
      [CircuitOpenError, 'rejected'],
    ])
  })

  it('is not used for errors that do not count, which reach the caller unchanged', async () => {
    const fallback = jest.fn(() => 'fallback')
    const breaker = new CircuitBreaker({ circuitId: 'quotes', store: new MemoryStore(), fallback })
    const badRequest = new BadRequest()
    expect(await rejectionOf(breaker.execute(() => Promise.reject(badRequest)))).toBe(badRequest)
    expect(fallback).not.toHaveBeenCalled()
  })

  it('passes on what the fallback throws', async () => {
    const breaker = new CircuitBreaker({
      circuitId: 'quotes',
      store: new MemoryStore(),
      fallback: () => {
        throw new Error('no fallback data either')
      },
    })
    await expect(breaker.execute(fails)).rejects.toThrow('no fallback data either')
  })

  it('types the result as the function’s value or the fallback’s', async () => {
    const breaker = new CircuitBreaker({ circuitId: 'quotes', store: new MemoryStore(), fallback: () => 0 })
    const value: string | number = await breaker.execute(succeeds)
    expect(value).toBe('ok')
  })
})

describe('wrap', () => {
  it('keeps the signature and protects every call', async () => {
    const { breaker } = fleet(1, { failureThreshold: 2 })
    const charge = jest.fn(async (amount: number, currency: string) => {
      if (amount < 0) throw new ServiceUnavailable()
      return `${amount} ${currency}`
    })
    const protectedCharge = breaker.wrap(charge)
    await expect(protectedCharge(10, 'EUR')).resolves.toBe('10 EUR')
    await rejectionOf(protectedCharge(-1, 'EUR'))
    await rejectionOf(protectedCharge(-1, 'EUR'))
    await rejectionOf(protectedCharge(10, 'EUR'))
    expect(charge).toHaveBeenCalledTimes(3)
  })
})

describe('admit and permits', () => {
  it('counts only the first outcome recorded on a permit', async () => {
    const { breaker } = fleet(1, { failureThreshold: 2 })
    const admission = await breaker.admit()
    if (!admission.admitted) throw new Error('expected admission')
    expect(await admission.permit.recordError(new ServiceUnavailable())).toBe('failure')
    expect(await admission.permit.recordError(new ServiceUnavailable())).toBe('ignored')
    expect((await breaker.getState()).failures).toBe(1)
  })

  it('treats a classifier that throws as "not a failure" and logs it', async () => {
    const { breaker, logger } = fleet(1, {
      isFailure: () => {
        throw new Error('classifier bug')
      },
    })
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).failures).toBe(0)
    expect(logger.entries.some((entry) => entry.level === 'error' && /isFailure/.test(entry.message))).toBe(true)
  })
})

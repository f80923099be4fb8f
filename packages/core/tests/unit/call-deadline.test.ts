import { spawn } from 'node:child_process'
import { getEventListeners, once } from 'node:events'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { CallTimeoutError } from '@fleet-breaker/core'
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { callWithDeadline, DeadlineScheduler } from '../../src/call-deadline.js'
import { rejectionOf } from './support.js'

const TIMEOUT_MS = 1_000

/** Makes a fresh error per deadline, as the breaker does. */
function timeoutOf(circuitId: string, timeoutMs = TIMEOUT_MS): () => CallTimeoutError {
  return () => new CallTimeoutError({ circuitId, timeoutMs })
}

/** A call that never settles on its own: only a deadline or the caller can end it. */
const hangs = (): Promise<string> => new Promise<string>(() => {})

/** The timers that keep this process alive (unreferenced ones are not listed). */
const referencedTimers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length

/** Runs `fn` as a call under `scheduler`, keeping the signal it was handed. */
function runKeepingSignal<T>(scheduler: DeadlineScheduler, fn: () => T | Promise<T>) {
  let handed: AbortSignal | undefined
  const outcome = scheduler.run((signal) => {
    handed = signal
    return fn()
  })
  if (handed === undefined) throw new Error('the scheduler did not call the function')
  return { outcome, signal: handed }
}

describe('DeadlineScheduler, on a fake clock', () => {
  beforeEach(() => {
    jest.useFakeTimers()
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('never aborts the signal of a call that finished when a call started in the same millisecond times out', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const finished = runKeepingSignal(scheduler, async () => 'in time')
    const hung = runKeepingSignal(scheduler, hangs)
    const hungError = rejectionOf(hung.outcome)
    await expect(finished.outcome).resolves.toBe('in time')

    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)

    const error = await hungError
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect(hung.signal.aborted).toBe(true)
    expect(hung.signal.reason).toBe(error)
    expect(finished.signal).not.toBe(hung.signal)
    expect(finished.signal.aborted).toBe(false)
    await jest.advanceTimersByTimeAsync(10 * TIMEOUT_MS)
    expect(finished.signal.aborted).toBe(false)
  })

  it('aborts each timed-out call through its own signal, with its own error', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const calls = [runKeepingSignal(scheduler, hangs), runKeepingSignal(scheduler, hangs)]
    const errors = calls.map((call) => rejectionOf(call.outcome))
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    const [first, second] = await Promise.all(errors)
    expect(first).not.toBe(second)
    expect(calls.map((call) => call.signal.reason)).toEqual([first, second])
  })

  it('times a call out when its full timeout has passed, not a millisecond earlier', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const call = runKeepingSignal(scheduler, hangs)
    let rejected = false
    const error = rejectionOf(call.outcome).finally(() => {
      rejected = true
    })
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS - 1)
    expect({ rejected, aborted: call.signal.aborted }).toEqual({ rejected: false, aborted: false })
    await jest.advanceTimersByTimeAsync(1)
    expect({ rejected, aborted: call.signal.aborted }).toEqual({ rejected: true, aborted: true })
    await expect(error).resolves.toBeInstanceOf(CallTimeoutError)
  })

  it('counts each deadline from its own start, after the calls before it have finished', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const settled: string[] = []
    const quick = scheduler.run(() => new Promise<string>((resolve) => setTimeout(() => resolve('quick'), 100)))
    await jest.advanceTimersByTimeAsync(400)
    await expect(quick).resolves.toBe('quick')
    // Nothing is running now, and the timer is still set for the quick call's deadline (1000 ms),
    // which comes before this call's (1400 ms).
    const late = scheduler.run(hangs).catch(() => settled.push('late'))
    await jest.advanceTimersByTimeAsync(300)
    const later = scheduler.run(hangs).catch(() => settled.push('later'))

    await jest.advanceTimersByTimeAsync(TIMEOUT_MS - 300 - 1) // 1399 ms: the late call has 1 ms left
    expect(settled).toEqual([])
    await jest.advanceTimersByTimeAsync(1)
    expect(settled).toEqual(['late'])
    await jest.advanceTimersByTimeAsync(299)
    expect(settled).toEqual(['late'])
    await jest.advanceTimersByTimeAsync(1)
    expect(settled).toEqual(['late', 'later'])
    await Promise.all([late, later])
  })

  it('gives a call started while another is being aborted its own full deadline', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    let retry: Promise<unknown> | undefined
    const first = rejectionOf(
      scheduler.run((signal) => {
        signal.addEventListener('abort', () => {
          retry = rejectionOf(scheduler.run(hangs))
        })
        return hangs()
      }),
    )
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    await first
    if (retry === undefined) throw new Error('the abort listener did not run')
    let retried = false
    const retryError = retry.finally(() => {
      retried = true
    })
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS - 1)
    expect(retried).toBe(false)
    await jest.advanceTimersByTimeAsync(1)
    await expect(retryError).resolves.toBeInstanceOf(CallTimeoutError)
  })

  it('passes on a synchronous value or throw, and an asynchronous outcome, untouched', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const thrown = new Error('thrown at once')
    const rejected = new Error('rejected')
    await expect(scheduler.run(() => 'at once')).resolves.toBe('at once')
    await expect(
      scheduler.run(() => {
        throw thrown
      }),
    ).rejects.toBe(thrown)
    await expect(scheduler.run(async () => 'later')).resolves.toBe('later')
    await expect(scheduler.run(() => Promise.reject(rejected))).rejects.toBe(rejected)
  })

  it('hands the handlers the context each call was run with, however the call ends', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const handled: unknown[] = []
    const onValue = (value: unknown, context: unknown) => handled.push([context, 'value', value])
    const onError = (error: unknown, context: unknown) => handled.push([context, 'error', (error as Error).message])
    const endings: [string, () => unknown][] = [
      ['returned', () => 'at once'],
      [
        'thrown',
        () => {
          throw new Error('thrown at once')
        },
      ],
      ['resolved', async () => 'later'],
      ['rejected', () => Promise.reject(new Error('rejected'))],
      ['timed out', hangs],
    ]
    const outcomes = endings.map(([context, fn]) =>
      scheduler.run(fn, timeoutOf('payment-api'), onValue, onError, context),
    )
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    await Promise.all(outcomes)
    expect(handled).toEqual(
      expect.arrayContaining([
        ['returned', 'value', 'at once'],
        ['thrown', 'error', 'thrown at once'],
        ['resolved', 'value', 'later'],
        ['rejected', 'error', 'rejected'],
        ['timed out', 'error', expect.stringContaining('timed out')],
      ]),
    )
    expect(handled).toHaveLength(5)
  })

  it.each([
    ['a value', () => Promise.resolve('late value')],
    ['an error', () => Promise.reject(new Error('late error'))],
  ])('hands the handlers only the timeout when the call ends with %s after its deadline', async (_, ending) => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const handled: unknown[] = []
    let finish: () => void = () => {}
    const late = new Promise<unknown>((resolve) => (finish = () => resolve(ending())))
    const outcome = scheduler.run(
      () => late,
      timeoutOf('payment-api'),
      (value) => handled.push(['value', value]),
      (error) => handled.push(['error', error]),
    )
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    finish()
    await late.catch(() => undefined)
    await jest.advanceTimersByTimeAsync(0)
    await outcome
    expect(handled).toEqual([['error', expect.any(CallTimeoutError)]])
  })
})

describe('DeadlineScheduler under fake timers that leave performance.now() alone', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['performance'] })
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('still times calls out when the timers say their time has passed', async () => {
    const scheduler = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('payment-api'))
    const first = rejectionOf(scheduler.run(hangs))
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS / 2)
    const second = rejectionOf(scheduler.run(hangs))
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS * 2)
    for (const error of await Promise.all([first, second])) expect(error).toBeInstanceOf(CallTimeoutError)
  })
})

describe('DeadlineScheduler when fake timers are removed with a call still waiting', () => {
  afterEach(() => {
    jest.useRealTimers()
  })

  it('times out the calls made on the real clock afterwards', async () => {
    const scheduler = new DeadlineScheduler(200, timeoutOf('payment-api', 200))
    jest.useFakeTimers()
    // Left waiting on a timer of the fake clock, which will never fire once it is gone.
    const abandoned = rejectionOf(scheduler.run(hangs))
    jest.useRealTimers()
    expect(await rejectionOf(scheduler.run(hangs))).toBeInstanceOf(CallTimeoutError)
    expect(await abandoned).toBeInstanceOf(CallTimeoutError)
  })
})

describe('DeadlineScheduler and the process lifetime', () => {
  it('leaves no timer keeping the process alive after a synchronous call', async () => {
    const scheduler = new DeadlineScheduler(60_000, timeoutOf('payment-api', 60_000))
    const thrown = new Error('thrown at once')
    const before = referencedTimers()
    await expect(scheduler.run(() => 'at once')).resolves.toBe('at once')
    await expect(
      scheduler.run(() => {
        throw thrown
      }),
    ).rejects.toBe(thrown)
    expect(referencedTimers()).toBe(before)
  })

  it('keeps the process alive while a call waits on its deadline, and no longer', async () => {
    const scheduler = new DeadlineScheduler(60_000, timeoutOf('payment-api', 60_000))
    const before = referencedTimers()
    let finish: (value: string) => void = () => {}
    const call = scheduler.run(() => new Promise<string>((resolve) => (finish = resolve)))
    expect(referencedTimers()).toBe(before + 1)
    finish('done')
    await expect(call).resolves.toBe('done')
    expect(referencedTimers()).toBe(before)
  })

  it('lets a script end once its calls are done, long before their deadlines', async () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const deadlines = new URL('../../src/call-deadline.ts', import.meta.url).href
    const script = `
      const { DeadlineScheduler, callWithDeadline } = await import(${JSON.stringify(deadlines)})
      const TEN_MINUTES = 600000
      const onTimeout = () => new Error('deadline')
      const scheduler = new DeadlineScheduler(TEN_MINUTES, onTimeout)
      await scheduler.run(() => 'returned at once')
      await scheduler.run(() => { throw new Error('thrown at once') }).catch(() => {})
      await scheduler.run(async () => 'resolved')
      const caller = new AbortController()
      await callWithDeadline(() => 'returned at once', TEN_MINUTES, caller.signal, onTimeout)
      await callWithDeadline(async () => 'resolved', TEN_MINUTES, caller.signal, onTimeout)
      const hung = callWithDeadline(() => new Promise(() => {}), TEN_MINUTES, caller.signal, onTimeout)
      caller.abort()
      await hung.catch(() => {})
      process.stdout.write('all settled')
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
    // Far longer than the script needs on a busy machine, far shorter than its deadlines.
    const guard = setTimeout(() => child.kill(), 45_000)
    const [code, killedBy] = await once(child, 'exit')
    clearTimeout(guard)
    expect({ code, killedBy, output }).toEqual({ code: 0, killedBy: null, output: 'all settled' })
  }, 60_000)
})

describe('callWithDeadline, on a fake clock', () => {
  beforeEach(() => {
    jest.useFakeTimers()
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('leaves no listener on a long-lived caller signal, however its calls end', async () => {
    const caller = new AbortController()
    const listeners = () => getEventListeners(caller.signal, 'abort').length
    const onTimeout = timeoutOf('payment-api')

    const timedOut = Array.from({ length: 10 }, () =>
      rejectionOf(callWithDeadline(hangs, TIMEOUT_MS, caller.signal, onTimeout)),
    )
    expect(listeners()).toBe(10)
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    for (const error of await Promise.all(timedOut)) expect(error).toBeInstanceOf(CallTimeoutError)
    expect(listeners()).toBe(0)

    await expect(callWithDeadline(async () => 'resolved', TIMEOUT_MS, caller.signal, onTimeout)).resolves.toBe(
      'resolved',
    )
    const failure = new Error('rejected')
    await expect(callWithDeadline(() => Promise.reject(failure), TIMEOUT_MS, caller.signal, onTimeout)).rejects.toBe(
      failure,
    )
    await expect(callWithDeadline(() => 'at once', undefined, caller.signal, onTimeout)).resolves.toBe('at once')
    expect(listeners()).toBe(0)
  })

  it('leaves no timer once a call has settled, whichever way', async () => {
    const onTimeout = timeoutOf('payment-api')
    const caller = new AbortController()
    await callWithDeadline(() => 'at once', TIMEOUT_MS, caller.signal, onTimeout)
    await callWithDeadline(async () => 'resolved', TIMEOUT_MS, caller.signal, onTimeout)
    expect(jest.getTimerCount()).toBe(0)

    const abandoned = rejectionOf(callWithDeadline(hangs, TIMEOUT_MS, caller.signal, onTimeout))
    expect(jest.getTimerCount()).toBe(1)
    caller.abort()
    await abandoned
    expect(jest.getTimerCount()).toBe(0)
  })

  it('never aborts the signal of a call that finished when the caller aborts later', async () => {
    const caller = new AbortController()
    let handed: AbortSignal | undefined
    const call = callWithDeadline(
      async (signal) => {
        handed = signal
        return 'in time'
      },
      TIMEOUT_MS,
      caller.signal,
      timeoutOf('payment-api'),
    )
    await expect(call).resolves.toBe('in time')
    caller.abort()
    await jest.advanceTimersByTimeAsync(10 * TIMEOUT_MS)
    expect(handed?.aborted).toBe(false)
  })

  it('rejects with the very reason the caller aborted with, and aborts the call with it', async () => {
    const caller = new AbortController()
    const outerTimeout = new CallTimeoutError({ circuitId: 'checkout', timeoutMs: 3_000 })
    const onTimeout = jest.fn(timeoutOf('payment-api'))
    let handed: AbortSignal | undefined
    const call = rejectionOf(
      callWithDeadline(
        (signal) => {
          handed = signal
          return hangs()
        },
        TIMEOUT_MS,
        caller.signal,
        onTimeout,
      ),
    )
    caller.abort(outerTimeout)
    expect(await call).toBe(outerTimeout)
    expect(handed?.reason).toBe(outerTimeout)
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    expect(onTimeout).not.toHaveBeenCalled()
  })

  it('rejects with its own deadline error, leaving the caller’s signal alone', async () => {
    const caller = new AbortController()
    let handed: AbortSignal | undefined
    const call = rejectionOf(
      callWithDeadline(
        (signal) => {
          handed = signal
          return hangs()
        },
        TIMEOUT_MS,
        caller.signal,
        timeoutOf('payment-api'),
      ),
    )
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    const error = await call
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect(handed?.reason).toBe(error)
    expect(caller.signal.aborted).toBe(false)
  })

  it('returns a rejection, without calling the function, when the caller has already given up', async () => {
    const caller = new AbortController()
    const reason = new Error('the invocation ran out of time')
    caller.abort(reason)
    const fn = jest.fn(async () => 'never called')
    await expect(callWithDeadline(fn, TIMEOUT_MS, caller.signal, timeoutOf('payment-api'))).rejects.toBe(reason)
    expect(fn).not.toHaveBeenCalled()
  })

  it('hands an inner call the outer deadline’s error as its caller’s reason, distinct from its own', async () => {
    const outer = new DeadlineScheduler(TIMEOUT_MS, timeoutOf('checkout'))
    const innerTimeout = jest.fn(timeoutOf('payment-api', 5_000))
    let inner: Promise<unknown> | undefined
    let outerSignal: AbortSignal | undefined
    const outerCall = rejectionOf(
      outer.run((signal) => {
        outerSignal = signal
        const innerCall = callWithDeadline(hangs, 5_000, signal, innerTimeout)
        inner = rejectionOf(innerCall)
        return innerCall
      }),
    )
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS)
    const outerError = await outerCall
    expect(outerError).toMatchObject({ circuitId: 'checkout' })
    expect(outerSignal?.reason).toBe(outerError)
    expect(await inner).toBe(outerError)
    expect(innerTimeout).not.toHaveBeenCalled()
  })
})

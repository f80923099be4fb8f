import { EventEmitter } from 'node:events'
import { CircuitState, isInvalidConfigurationError } from '@fleet-breaker/core'
import { type IoRedisClientLike, type NodeRedisClientLike, RedisStore } from '@fleet-breaker/storage/redis'
import { describe, expect, it, jest } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { clockShift } from '../../src/redis/reply.js'

/*
 * The store's own logic with stand-in clients: configuration, how each library is called, the
 * NOSCRIPT fallback, cancellation and the reading of script replies. The scripts themselves are
 * tested against a real server in tests/integration.
 */

const SERVER_NOW = 1_700_000_000_000

/** A reply as the scripts give it: server time, problem, outcome, then the record's fields. */
function reply(fields: Record<string, string>, { problem = '', outcome = '', serverNow = SERVER_NOW } = {}) {
  return [String(serverNow), problem, outcome, ...Object.entries(fields).flat()]
}

const CLOSED_WITH_ONE_FAILURE = {
  state: 'CLOSED',
  generation: '3',
  openCount: '0',
  changedAt: String(SERVER_NOW - 5_000),
  failures: '1',
  windowStartedAt: String(SERVER_NOW - 1_000),
}

function ioredisClient(answer: (sha: string) => Promise<unknown>) {
  const client = {
    evalsha: jest.fn((sha: string, _numKeys: number, ..._keysAndArgs: string[]) => answer(sha)),
    eval: jest.fn(async (_script: string, _numKeys: number, ..._keysAndArgs: string[]): Promise<unknown> => {
      return reply(CLOSED_WITH_ONE_FAILURE)
    }),
  } satisfies IoRedisClientLike
  return client
}

function nodeRedisClient(answer: () => Promise<unknown>) {
  return {
    evalSha: jest.fn((_sha: string, _options: { keys: string[]; arguments: string[] }) => answer()),
    eval: jest.fn(async (_script: string, _options: { keys: string[]; arguments: string[] }): Promise<unknown> => {
      return reply(CLOSED_WITH_ONE_FAILURE)
    }),
  } satisfies NodeRedisClientLike
}

function thrown(construct: () => unknown): unknown {
  try {
    construct()
  } catch (error) {
    return error
  }
  throw new Error('expected construction to throw')
}

describe('configuration', () => {
  const client = ioredisClient(async () => reply({}))

  it.each([
    ['no client', undefined],
    ['a URL', 'redis://127.0.0.1:6379'],
    ['an object without script commands', { get: () => undefined, set: () => undefined }],
    ['an ioredis-like object without eval', { evalsha: () => undefined }],
    ['a node-redis-like object without eval', { evalSha: () => undefined, scriptLoad: () => undefined }],
  ])('refuses %s as the client, naming the option', (_name, candidate) => {
    const error = thrown(() => new RedisStore({ client: candidate as unknown as IoRedisClientLike }))
    expect(isInvalidConfigurationError(error)).toBe(true)
    expect(error).toMatchObject({ option: 'client', value: candidate })
    expect(String(error)).toMatch(/client must be a connected ioredis client .* or node-redis client/)
  })

  it.each([
    ['keyPrefix', { keyPrefix: 42 }],
    ['keyPrefix', { keyPrefix: 'breakers:{shared}:' }],
    ['ttlSeconds', { ttlSeconds: 0 }],
    ['ttlSeconds', { ttlSeconds: -60 }],
    ['ttlSeconds', { ttlSeconds: 1.5 }],
    ['ttlSeconds', { ttlSeconds: Number.NaN }],
    ['ttlSeconds', { ttlSeconds: Number.POSITIVE_INFINITY }],
    ['ttlSeconds', { ttlSeconds: '60' }],
    ['logger', { logger: {} }],
    ['logger', { logger: null }],
  ])('refuses an invalid %s: %j', (option, options) => {
    const error = thrown(() => new RedisStore({ client, ...(options as object) }))
    expect(isInvalidConfigurationError(error)).toBe(true)
    expect(error).toMatchObject({ option })
  })

  it('accepts an empty key prefix and a one-second ttl', () => {
    const store = new RedisStore({ client, keyPrefix: '', ttlSeconds: 1 })
    expect(store.keyFor('payment-api')).toBe('{payment-api}')
  })
})

describe('calling the client', () => {
  it('calls ioredis by SHA1 with the number of keys, the key and the arguments', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client, keyPrefix: 'p:', ttlSeconds: 60 })
    await store.addFailure('orders', { opId: 'op-1', generation: 3, now: SERVER_NOW, windowMs: 30_000 })
    expect(client.evalsha).toHaveBeenCalledTimes(1)
    const [sha, numKeys, ...rest] = client.evalsha.mock.calls[0] ?? []
    expect(sha).toMatch(/^[0-9a-f]{40}$/)
    expect(numKeys).toBe(1)
    expect(rest).toEqual(['p:{orders}', '60000', 'op-1', '3', '', '30000', ''])
    expect(client.eval).not.toHaveBeenCalled()
  })

  it('calls node-redis by SHA1 with keys and arguments apart', async () => {
    const client = nodeRedisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client, keyPrefix: 'p:', ttlSeconds: 60 })
    await store.addFailure('orders', { opId: 'op-1', generation: 3, now: SERVER_NOW, windowMs: 30_000 })
    expect(client.evalSha).toHaveBeenCalledWith(expect.stringMatching(/^[0-9a-f]{40}$/), {
      keys: ['p:{orders}'],
      arguments: ['60000', 'op-1', '3', '', '30000', ''],
    })
  })

  it('uses a different script for each operation', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client })
    await store.get('a')
    await store.addFailure('a', { opId: 'op-1', generation: 3, now: SERVER_NOW, windowMs: 1 })
    await store.resetFailures('a', { opId: 'op-2', generation: 3, now: SERVER_NOW })
    await store.reset('a', { opId: 'op-3', now: SERVER_NOW })
    const shas = client.evalsha.mock.calls.map(([sha]) => sha)
    expect(new Set(shas).size).toBe(4)
  })

  it('sends the whole script once when the server does not know it (NOSCRIPT), then goes back to the SHA1', async () => {
    let known = false
    const client = ioredisClient(async () => {
      if (!known) throw new Error('NOSCRIPT No matching script. Please use EVAL.')
      return reply(CLOSED_WITH_ONE_FAILURE)
    })
    client.eval.mockImplementation(async () => {
      known = true
      return reply(CLOSED_WITH_ONE_FAILURE)
    })
    const store = new RedisStore({ client })
    expect(await store.get('orders')).toMatchObject({ state: CircuitState.CLOSED, failures: 1 })
    expect(client.eval).toHaveBeenCalledTimes(1)
    expect(client.eval.mock.calls[0]?.[0]).toMatch(/^-- fleet-breaker: get\n/)
    expect(client.eval.mock.calls[0]?.slice(1)).toEqual([1, 'fleet-breaker:{orders}'])
    await store.get('orders')
    expect(client.evalsha).toHaveBeenCalledTimes(2)
    expect(client.eval).toHaveBeenCalledTimes(1)
  })

  it('passes any other error on without retrying', async () => {
    const refused = new Error('READONLY You can not write against a read only replica.')
    const client = ioredisClient(async () => {
      throw refused
    })
    const store = new RedisStore({ client })
    await expect(store.reset('orders', { opId: 'op-1', now: SERVER_NOW })).rejects.toBe(refused)
    expect(client.eval).not.toHaveBeenCalled()
  })

  it('turns a client that throws synchronously into a rejection', async () => {
    const client = {
      evalsha: () => {
        throw new Error('Connection is closed.')
      },
      eval: () => {
        throw new Error('Connection is closed.')
      },
    } as unknown as IoRedisClientLike
    await expect(new RedisStore({ client }).get('orders')).rejects.toThrow('Connection is closed.')
  })

  it('refuses a non-finite number in a request before calling Redis', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client })
    await expect(
      store.addFailure('a', { opId: 'op-1', generation: 0, now: SERVER_NOW, windowMs: Number.NaN }),
    ).rejects.toThrow(/windowMs must be a finite number/)
    await expect(store.reset('a', { opId: 'op-1', now: Number.POSITIVE_INFINITY })).rejects.toThrow(
      /now must be a finite number/,
    )
    expect(client.evalsha).not.toHaveBeenCalled()
  })
})

describe('cancellation', () => {
  it('rejects with the abort reason, without a round trip, when the signal has already aborted', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client })
    const reason = new Error('deadline')
    const signal = AbortSignal.abort(reason)
    await expect(store.get('a', { signal })).rejects.toBe(reason)
    await expect(store.getMany(['a', 'b'], { signal })).rejects.toBe(reason)
    await expect(store.setMany([{ circuitId: 'a' }], { opId: 'op-1', now: SERVER_NOW }, { signal })).rejects.toBe(
      reason,
    )
    expect(client.evalsha).not.toHaveBeenCalled()
  })

  it('stops waiting as soon as the signal aborts, and ignores the late answer', async () => {
    let fail: (error: Error) => void = () => {}
    const client = ioredisClient(
      () =>
        new Promise((_resolve, reject) => {
          fail = reject
        }),
    )
    const store = new RedisStore({ client })
    const controller = new AbortController()
    const pending = store.get('a', { signal: controller.signal })
    const reason = new Error('deadline')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    fail(new Error('the late answer, which nobody waits for any more'))
  })
})

describe('reading replies', () => {
  it('reads an absent record as undefined, and leaves it out of getMany', async () => {
    const client = ioredisClient(async () => reply({}))
    const store = new RedisStore({ client })
    expect(await store.get('a')).toBeUndefined()
    expect((await store.getMany(['a', 'a'])).size).toBe(0)
    expect(client.evalsha).toHaveBeenCalledTimes(2) // getMany asks once per distinct circuit
  })

  it('moves the server’s times into a caller clock that is minutes off', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client })
    const callerNow = SERVER_NOW + 600_000
    expect(await store.get('orders', { now: callerNow })).toEqual({
      circuitId: 'orders',
      incarnation: '',
      state: CircuitState.CLOSED,
      generation: 3,
      openCount: 0,
      changedAt: callerNow - 5_000,
      failures: 1,
      windowStartedAt: callerNow - 1_000,
    })
  })

  it('moves every time field, but keeps changedAt 0 meaning "never"', async () => {
    const client = ioredisClient(async () =>
      reply({
        state: 'HALF_OPEN',
        generation: '4',
        openCount: '1',
        changedAt: '0',
        successes: '0',
        probe0Token: '12345',
        probe0ExpiresAt: String(SERVER_NOW + 30_000),
        probe2Token: 'b',
        probe2ExpiresAt: String(SERVER_NOW + 10_000),
        forcedState: 'OPEN',
        forcedReason: '',
        forcedSince: String(SERVER_NOW - 2_000),
        forcedUntil: String(SERVER_NOW + 60_000),
      }),
    )
    const store = new RedisStore({ client })
    const callerNow = SERVER_NOW + 3_600_000
    expect(await store.get('orders', { now: callerNow })).toEqual({
      circuitId: 'orders',
      incarnation: '',
      state: CircuitState.HALF_OPEN,
      generation: 4,
      openCount: 1,
      changedAt: 0,
      successes: 0,
      // A token that looks like a number stays a string.
      probes: [
        { slot: 0, token: '12345', expiresAt: callerNow + 30_000 },
        { slot: 2, token: 'b', expiresAt: callerNow + 10_000 },
      ],
      forced: { state: CircuitState.OPEN, reason: '', since: callerNow - 2_000, until: callerNow + 60_000 },
    })
  })

  it('takes a difference of a few milliseconds as latency, not skew, so concurrent callers agree', async () => {
    const client = ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))
    const store = new RedisStore({ client })
    const a = await store.get('orders', { now: SERVER_NOW - 4 })
    const b = await store.get('orders', { now: SERVER_NOW + 40 })
    expect(a).toEqual(b)
    expect(a).toMatchObject({ windowStartedAt: SERVER_NOW - 1_000 })
  })

  it('returns the lease of the slot the script took', async () => {
    const client = ioredisClient(async () =>
      reply(
        {
          state: 'HALF_OPEN',
          generation: '4',
          openCount: '1',
          changedAt: String(SERVER_NOW),
          successes: '0',
          probe0Token: 'a',
          probe0ExpiresAt: String(SERVER_NOW + 30_000),
          probe1Token: 'mine',
          probe1ExpiresAt: String(SERVER_NOW + 30_000),
        },
        { outcome: '1' },
      ),
    )
    const store = new RedisStore({ client })
    const outcome = await store.acquireProbe('orders', {
      generation: 4,
      maxProbes: 2,
      token: 'mine',
      leaseMs: 30_000,
      opId: 'mine',
      now: SERVER_NOW,
    })
    expect(outcome.lease).toEqual({ slot: 1, token: 'mine', expiresAt: SERVER_NOW + 30_000 })
  })

  it('reads the transition flag', async () => {
    const open = { state: 'OPEN', generation: '5', openCount: '1', changedAt: String(SERVER_NOW), retryAt: '1' }
    const client = ioredisClient(async () => reply(open, { outcome: '0' }))
    const store = new RedisStore({ client })
    const outcome = await store.transition('orders', {
      opId: 'op-1',
      from: { state: CircuitState.CLOSED, generation: 4 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 1_000 },
      now: SERVER_NOW,
    })
    expect(outcome).toMatchObject({ applied: false, record: { state: CircuitState.OPEN, generation: 5 } })
  })

  it('logs an unreadable record once per circuit', async () => {
    const fresh = { state: 'CLOSED', generation: '2', openCount: '0', changedAt: '0', failures: '0' }
    const client = ioredisClient(async () => reply(fresh, { problem: 'the key holds a string, not a hash' }))
    const logger = recordingLogger()
    const store = new RedisStore({ client, logger })
    await store.get('orders')
    await store.get('orders')
    await store.getMany(['orders', 'payments'])
    expect(logger.at('warn').map((entry) => entry.details)).toEqual([
      { store: 'redis', circuitId: 'orders', reason: 'the key holds a string, not a hash' },
      { store: 'redis', circuitId: 'payments', reason: 'the key holds a string, not a hash' },
    ])
  })

  it.each([
    ['not an array', 'OK'],
    ['too short', ['1']],
    ['a field without a value', [String(SERVER_NOW), '', '', 'state']],
    ['a non-numeric server time', ['soon', '', '']],
    ['numbers instead of strings', [SERVER_NOW, '', '']],
  ])('refuses a reply that is %s', async (_name, answer) => {
    const store = new RedisStore({ client: ioredisClient(async () => answer) })
    await expect(store.get('orders')).rejects.toThrow(/unexpected/)
  })

  it('refuses a write reply that holds no record', async () => {
    const store = new RedisStore({ client: ioredisClient(async () => reply({})) })
    await expect(store.reset('orders', { opId: 'op-1', now: SERVER_NOW })).rejects.toThrow(/returned no record/)
  })
})

describe('checking requests', () => {
  const client = () => ioredisClient(async () => reply(CLOSED_WITH_ONE_FAILURE))

  it.each([
    ['empty', ''],
    ['with a space', 'op 1'],
    ['with a control character', 'op\n1'],
    ['longer than 64 characters', 'x'.repeat(65)],
    ['not ASCII', 'opé'],
  ])('refuses an op id that is %s before calling Redis', async (_name, opId) => {
    const stand = client()
    const store = new RedisStore({ client: stand })
    await expect(store.addFailure('a', { opId, generation: 0, now: SERVER_NOW, windowMs: 1 })).rejects.toThrow(
      /opId must be 1 to 64 printable ASCII characters without spaces/,
    )
    await expect(store.reset('a', { opId, now: SERVER_NOW })).rejects.toThrow(TypeError)
    expect(stand.evalsha).not.toHaveBeenCalled()
  })

  it.each([
    ['a negative openCount', -1],
    ['a fractional openCount', 1.5],
    ['an openCount past 2^53', 2 ** 53],
  ])('refuses %s before calling Redis', async (_name, openCount) => {
    const stand = client()
    const store = new RedisStore({ client: stand })
    const request = {
      opId: 'op-1',
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.OPEN, openCount, retryInMs: 1_000 },
      now: SERVER_NOW,
    } as const
    await expect(store.transition('a', request)).rejects.toThrow(/to.openCount must be a whole number/)
    expect(stand.evalsha).not.toHaveBeenCalled()
  })

  it('refuses an unknown override state, and a batch with one writes none of it', async () => {
    const stand = client()
    const store = new RedisStore({ client: stand })
    const sideways = { state: 'SIDEWAYS' } as unknown as { state: typeof CircuitState.OPEN }
    await expect(store.setForced('a', { opId: 'op-1', forced: sideways, now: SERVER_NOW })).rejects.toThrow(
      /forced.state must be 'OPEN' or 'CLOSED'/,
    )
    const entries = [
      { circuitId: 'a', forced: { state: CircuitState.OPEN } },
      { circuitId: 'b', forced: sideways },
    ]
    await expect(store.setMany(entries, { opId: 'op-2', now: SERVER_NOW })).rejects.toThrow(TypeError)
    expect(stand.evalsha).not.toHaveBeenCalled()
  })

  it('passes a huge override duration on as a number: the script bounds the expiry', async () => {
    const stand = client()
    const store = new RedisStore({ client: stand, ttlSeconds: 60 })
    await store.setForced('a', {
      opId: 'op-1',
      forced: { state: CircuitState.OPEN, durationMs: 1e300 },
      now: SERVER_NOW,
    })
    expect(stand.evalsha.mock.calls[0]?.slice(2)).toEqual([
      'fleet-breaker:{a}',
      '60000',
      'op-1',
      // The history entry: action, actor, reason.
      'force-open',
      '',
      '',
      'OPEN',
      '0',
      '',
      '1e+300',
      // No actor, no onlyIfActor, not orNoOverride.
      '0',
      '',
      '0',
      '',
      '0',
    ])
  })
})

describe('many calls under one signal', () => {
  /**
   * The process Node reports warnings on. Jest gives each test file a copy of `process` whose
   * events are its own, so the real one is reached through a function of a core module, which
   * belongs to the host's realm.
   */
  const hostProcess = (EventEmitter.constructor as FunctionConstructor)('return process')() as NodeJS.Process

  /** The listener-leak warnings Node reports while `action` runs. */
  async function leakWarningsDuring(action: () => Promise<unknown>): Promise<string[]> {
    const warnings: string[] = []
    const onWarning = (warning: Error) => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message)
    }
    hostProcess.on('warning', onWarning)
    try {
      await action()
      // Node reports a warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      hostProcess.off('warning', onWarning)
    }
    return warnings
  }

  const circuits = Array.from({ length: 50 }, (_, index) => `circuit-${index}`)

  it.each([
    ['getMany', (store: RedisStore, signal: AbortSignal) => store.getMany(circuits, { signal })],
    [
      'setMany',
      (store: RedisStore, signal: AbortSignal) =>
        store.setMany(
          circuits.map((circuitId) => ({ circuitId })),
          { opId: 'op-1', now: SERVER_NOW },
          { signal },
        ),
    ],
    ['clearMany', (store: RedisStore, signal: AbortSignal) => store.clearMany(circuits, { signal })],
  ])('%s of fifty circuits adds no listener warning', async (_name, batch) => {
    const stand = ioredisClient(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      return reply(CLOSED_WITH_ONE_FAILURE)
    })
    const store = new RedisStore({ client: stand })
    const controller = new AbortController()
    expect(await leakWarningsDuring(() => batch(store, controller.signal))).toEqual([])
    expect(stand.evalsha).toHaveBeenCalledTimes(50)
  })

  it('still stops every call of a batch when the signal aborts', async () => {
    const stand = ioredisClient(() => new Promise(() => {}))
    const store = new RedisStore({ client: stand })
    const controller = new AbortController()
    const pending = store.getMany(circuits, { signal: controller.signal })
    const reason = new Error('deadline')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })
})

describe('a client still connecting', () => {
  /** An ioredis stand-in: `status` and an event per status, as ioredis has them. */
  function connectingIoredis(status: string) {
    const emitter = new EventEmitter()
    const client = Object.assign(emitter, {
      status,
      evalsha: jest.fn(async (_sha: string, _numKeys: number, ..._keysAndArgs: string[]): Promise<unknown> => {
        if (client.status !== 'ready') throw new Error("Stream isn't writeable and enableOfflineQueue options is false")
        return reply(CLOSED_WITH_ONE_FAILURE)
      }),
      eval: jest.fn(async (): Promise<unknown> => reply(CLOSED_WITH_ONE_FAILURE)),
      connect: jest.fn(async () => {
        client.status = 'connecting'
      }),
      becomes(next: string) {
        client.status = next
        client.emit(next)
      },
    })
    return client
  }

  it('waits for it, so the first call of a new environment reaches the store', async () => {
    const client = connectingIoredis('connecting')
    const store = new RedisStore({ client })
    const first = store.get('orders')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(client.evalsha).not.toHaveBeenCalled()
    client.becomes('connect')
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.evalsha).not.toHaveBeenCalled()
    client.becomes('ready')
    expect(await first).toMatchObject({ failures: 1 })
    expect(client.evalsha).toHaveBeenCalledTimes(1)
  })

  it('starts the connection of a lazy client, as its first command would', async () => {
    const client = connectingIoredis('wait')
    const store = new RedisStore({ client })
    const first = store.get('orders')
    expect(client.connect).toHaveBeenCalledTimes(1)
    client.becomes('ready')
    expect(await first).toMatchObject({ failures: 1 })
  })

  it('shares one set of listeners between all the calls waiting, and removes it', async () => {
    const client = connectingIoredis('connecting')
    const stores = [new RedisStore({ client }), new RedisStore({ client, keyPrefix: 'other:' })]
    const calls = stores.flatMap((store) => Array.from({ length: 20 }, (_, index) => store.get(`c${index}`)))
    expect(client.listenerCount('ready')).toBe(1)
    client.becomes('ready')
    await Promise.all(calls)
    expect(client.listenerCount('ready')).toBe(0)
    expect(client.listenerCount('close')).toBe(0)
  })

  it('sends the command once the attempt has failed, and reports the client’s own error', async () => {
    const client = connectingIoredis('reconnecting')
    const store = new RedisStore({ client })
    const first = store.get('orders')
    client.becomes('connecting')
    client.becomes('close')
    await expect(first).rejects.toThrow(/enableOfflineQueue/)
  })

  it('stops waiting when the signal aborts, sending nothing', async () => {
    const client = connectingIoredis('connecting')
    const store = new RedisStore({ client })
    const controller = new AbortController()
    const first = store.get('orders', { signal: controller.signal })
    const reason = new Error('deadline')
    controller.abort(reason)
    await expect(first).rejects.toBe(reason)
    client.becomes('ready')
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.evalsha).not.toHaveBeenCalled()
  })

  it('waits for a node-redis client told to connect, and not for one never told to', async () => {
    const state = { isOpen: true, isReady: false }
    class NodeRedisStandIn extends EventEmitter {
      get isOpen() {
        return state.isOpen
      }
      get isReady() {
        return state.isReady
      }
      evalSha = jest.fn(async (): Promise<unknown> => {
        if (!state.isOpen) throw new Error('The client is closed')
        return reply(CLOSED_WITH_ONE_FAILURE)
      })
      eval = jest.fn(async (): Promise<unknown> => reply(CLOSED_WITH_ONE_FAILURE))
    }
    const client = new NodeRedisStandIn()
    const store = new RedisStore({ client })
    const first = store.get('orders')
    client.emit('connect')
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.evalSha).not.toHaveBeenCalled()
    state.isReady = true
    client.emit('ready')
    expect(await first).toMatchObject({ failures: 1 })

    state.isOpen = false
    state.isReady = false
    await expect(store.get('orders')).rejects.toThrow('The client is closed')
  })
})

describe('the difference between the clocks', () => {
  it('is nothing when the server read its clock while the call was under way, however long it took', () => {
    // Asked at 1 000, answered 400 ms later: a server reading 1 350 agrees with the caller.
    expect(clockShift(1_350, 1_000, 400)).toBe(0)
    expect(clockShift(1_050, 1_000, 0)).toBe(0)
    expect(clockShift(950, 1_000, 0)).toBe(0)
  })

  it('is the smallest correction the call allows when the clocks cannot agree', () => {
    // The server is ten minutes behind: its times move forward by that much.
    expect(clockShift(1_000, 601_000, 5)).toBe(600_000)
    // The server is ten minutes ahead, read at most 5 ms after the caller's now.
    expect(clockShift(601_000, 1_000, 5)).toBe(-599_995)
  })
})

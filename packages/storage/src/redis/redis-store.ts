import {
  type AcquireProbeRequest,
  type AddCountsRequest,
  type AddFailureRequest,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  type CompleteProbeRequest,
  decodeListCursor,
  encodeListCursor,
  HistoryAction,
  type HistoryEntry,
  historyEntry,
  InvalidConfigurationError,
  isOpId,
  isPlainObject,
  jsonConsoleLogger,
  type ListedCircuit,
  type ListPage,
  type ListRequest,
  type Logger,
  listLimit,
  type OperatorNote,
  type OverrideRequest,
  type ProbeOutcome,
  type ResetFailuresRequest,
  type ResetRequest,
  type SetForcedRequest,
  type SetManyEntry,
  type SetManyRequest,
  type SetShadowRequest,
  type StoreCallOptions,
  setForcedEntry,
  setShadowEntry,
  type TransitionOutcome,
  type TransitionRequest,
  type WriteRequest,
} from '@fleet-breaker/core'
import { InvalidRecordReporter } from '../invalid-records.js'
import { adaptClient, type RedisClientLike, type ScriptClient } from './client.js'
import { readAnswer, type ScriptAnswer } from './reply.js'
import { type ScanNode, scanNodesOf } from './scan.js'
import { runScript } from './script-runner.js'
import { type LuaScript, Scripts } from './scripts.js'

/**
 * Options of {@link RedisStore}.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { client, keyPrefix: 'checkout:breaker:', ttlSeconds: 86_400 }
 * const store = new RedisStore(options)
 * ```
 */
export interface RedisStoreOptions {
  /**
   * An ioredis (`Redis` or `Cluster`) or node-redis (`createClient()` or `createCluster()`) client,
   * created once per execution environment; connected, or connecting (the store waits for a client
   * still connecting, within each call's signal). Give it timeouts of its own (see
   * {@link RedisStore}): the breaker stops waiting at its `storeTimeoutMs`, but only the client can
   * stop a command from queueing or hanging on a dead connection.
   */
  readonly client: RedisClientLike
  /** Put before every key; the circuit id follows it in braces. Default `'fleet-breaker:'`. */
  readonly keyPrefix?: string
  /**
   * How long the record of a circuit nobody writes to is kept, in whole seconds; every write starts
   * the period again. Default 604 800 (7 days). A circuit forced without an end is never expired.
   */
  readonly ttlSeconds?: number
  /** Where a warning about an unreadable record goes. Default `jsonConsoleLogger` from core. */
  readonly logger?: Logger
}

const DEFAULT_KEY_PREFIX = 'fleet-breaker:'
const DEFAULT_TTL_SECONDS = 7 * 24 * 60 * 60

function validKeyPrefix(keyPrefix: unknown): string {
  // A brace in the prefix would take over the hash tag and put every circuit in one cluster slot.
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw new InvalidConfigurationError('keyPrefix', keyPrefix, 'a string without braces')
  }
  return keyPrefix
}

function validTtlSeconds(ttlSeconds: unknown): number {
  // Whole seconds, and few enough that the milliseconds PEXPIRE takes are still exact.
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isInteger(ttlSeconds) ||
    ttlSeconds < 1 ||
    !Number.isSafeInteger(ttlSeconds * 1_000)
  ) {
    throw new InvalidConfigurationError('ttlSeconds', ttlSeconds, 'a whole number of seconds, 1 or more')
  }
  return ttlSeconds
}

function validLogger(logger: unknown): Logger {
  if (typeof logger !== 'object' || logger === null || typeof Reflect.get(logger, 'warn') !== 'function') {
    throw new InvalidConfigurationError('logger', logger, 'a logger with debug, info, warn and error methods')
  }
  return logger as Logger
}

/** Rejects a non-finite number here: in a script it would only surface as an obscure Lua error. */
function finite(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a finite number; received ${value}`)
  }
  return value
}

function numberArg(name: string, value: number): string {
  return String(finite(name, value))
}

function optionalNumberArg(name: string, value: number | undefined): string {
  return value === undefined ? '' : numberArg(name, value)
}

/** A count the record keeps (or compares slots with): a whole number from 0 to 2^53 - 1. */
function countArg(name: string, value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a whole number from 0 to 2^53 - 1; received ${value}`)
  }
  return String(value)
}

/** An op id (or an environment id), as core's `isOpId` defines it (the scripts check it again). */
function idArg(name: string, value: string): string {
  if (!isOpId(value)) {
    throw new TypeError(
      `${name} must be 1 to 64 printable ASCII characters without spaces; received ${JSON.stringify(value)}`,
    )
  }
  return value
}

function opIdArg(value: string): string {
  return idArg('opId', value)
}

function optionalIdArg(name: string, value: string | undefined): string {
  return value === undefined ? '' : idArg(name, value)
}

/** The incarnation a write is fenced on; absent or '' fences nothing. */
function fenceArg(name: string, value: string | undefined): string {
  return value === undefined || value === '' ? '' : idArg(name, value)
}

function textArg(name: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string; received ${String(value)}`)
  return value
}

function flag(value: boolean): string {
  return value ? '1' : '0'
}

/**
 * A {@link CircuitStore} keeping each circuit in one Redis hash, shared by every execution
 * environment connected to the same server. Each operation is one Lua script, run atomically by the
 * server and called by its SHA1: one round trip per operation.
 *
 * **Keys.** Circuit `payment-api` lives at `fleet-breaker:{payment-api}` (with the default prefix).
 * The braces make the circuit id the hash tag, and every operation touches one key only, so the
 * store works unchanged on Redis Cluster. The hash holds core's flat record fields.
 *
 * **Clock.** The scripts decide with the Redis server's clock (`TIME`), not the caller's: whether a
 * failure window has lapsed, whether the retry time has come, whether a probe lease has run out.
 * Durations in requests are added to the server's time and times are stored in it. Every record
 * the store returns is moved into the caller's clock (by the difference between the caller's clock
 * and the server's that the call shows), so environments whose clocks disagree still agree on when
 * an open circuit may be retried. One call shows that difference only to within its round trip, so
 * a clock the call cannot show to be more than 100 ms off is taken as agreeing and its times are
 * left as the server's: concurrent callers see identical times, however long each call waited.
 *
 * **Idempotent writes.** Every write carries an op id and is applied at most once: a transition,
 * override or reset already made by that op id (the record's `changedBy`), or a counting write
 * whose op id is among the record's `recentOps`, changes nothing and answers as the first
 * application did. ioredis re-sends the commands a dropped connection left unanswered once it has
 * reconnected (its `autoResendUnfulfilledCommands`, on by default), so a command can reach the
 * server twice; it still counts once, and a transition's winner still learns it won.
 *
 * **Lost records.** A record lost with the server's data (a restart without persistence, a flush,
 * a failover that lost the last writes) reads as absent, and the next write creates it afresh with
 * a new `incarnation`; a write fenced on the lost incarnation changes nothing. Scripts the server
 * forgot are sent again (see below).
 *
 * **Expiry.** Every write gives the key an expiry of `ttlSeconds` (counted from the last time the
 * record still relies on, such as its retry time or the end of an override, and at most 100 years),
 * so circuits that are no longer used do not accumulate. A circuit forced with no end never expires.
 *
 * **Unreadable data.** A key of another type, or a hash that is not a valid record, reads as a
 * fresh CLOSED circuit (logged once per circuit) and is replaced whole by the next write to it.
 *
 * **Arguments.** Every request is checked before anything is sent (a `TypeError` names the field),
 * and every script checks its arguments again before its first write, so no call ever fails after
 * changing the record.
 *
 * **Connecting.** A client that is still connecting (created at module scope and not yet ready, or
 * reconnecting after a dropped connection) is waited for before a command is sent, until that
 * connection attempt ends or the call's signal aborts. So a new execution environment can create
 * its client at module scope without waiting for it, and its first call still reaches the store.
 * A node-redis client must have been told to `connect()` (awaiting it is not needed).
 *
 * **Timeouts.** The breaker bounds every store call with `storeTimeoutMs` and an `AbortSignal`; the
 * store rejects as soon as the signal aborts, but the command itself is the client's to bound.
 * Configure the client so an unreachable server fails fast instead of queueing commands: for
 * ioredis `commandTimeout`, `connectTimeout`, `maxRetriesPerRequest: 1` and
 * `enableOfflineQueue: false`; for node-redis `socket.connectTimeout` and `disableOfflineQueue: true`
 * (and `socket.socketTimeout` in versions that have it).
 *
 * Needs Redis 5 or later (or a compatible server such as Valkey), which replicates scripts by effect.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@fleet-breaker/core'
 * import { RedisStore } from '@fleet-breaker/storage/redis'
 * import { Redis } from 'ioredis'
 *
 * // Once per execution environment, at module scope; the store waits for the connection.
 * const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   connectTimeout: 1_000,
 *   commandTimeout: 500,
 *   maxRetriesPerRequest: 1,
 *   enableOfflineQueue: false,
 * })
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new RedisStore({ client }) })
 * ```
 */
export class RedisStore implements CircuitStore {
  readonly #client: ScriptClient
  readonly #keyPrefix: string
  readonly #ttlMs: string
  readonly #invalidRecords: InvalidRecordReporter

  constructor(options: RedisStoreOptions) {
    this.#client = adaptClient(options.client)
    // Only an absent option takes its default; anything else, null included, must be valid.
    const { keyPrefix = DEFAULT_KEY_PREFIX, ttlSeconds = DEFAULT_TTL_SECONDS, logger = jsonConsoleLogger } = options
    this.#keyPrefix = validKeyPrefix(keyPrefix)
    this.#ttlMs = String(validTtlSeconds(ttlSeconds) * 1_000)
    this.#invalidRecords = new InvalidRecordReporter(validLogger(logger), 'redis')
  }

  /**
   * The Redis key holding a circuit's hash: the prefix, then the circuit id as the hash tag.
   *
   * @example
   * ```ts
   * new RedisStore({ client }).keyFor('payment-api') // 'fleet-breaker:{payment-api}'
   * ```
   */
  keyFor(circuitId: string): string {
    return `${this.#keyPrefix}{${circuitId}}`
  }

  /** Runs a script on a circuit's key and reads its reply in the caller's clock. */
  async #run<Arg extends string>(
    script: LuaScript<Arg>,
    circuitId: string,
    args: Readonly<Record<Arg, string>>,
    callerNow: number,
    options: StoreCallOptions | undefined,
  ): Promise<ScriptAnswer> {
    const started = performance.now()
    const reply = await runScript(this.#client, script, this.keyFor(circuitId), args, options?.signal)
    const answer = readAnswer(circuitId, reply, callerNow, performance.now() - started)
    if (answer.problem !== undefined) this.#invalidRecords.report(circuitId, answer.problem)
    else if (answer.blemish !== undefined) this.#invalidRecords.reportBlemish(circuitId, answer.blemish)
    return answer
  }

  /** Runs a write script, which always answers with a record. */
  async #write<Arg extends string>(
    script: LuaScript<Arg | 'ttlMs' | 'opId'>,
    circuitId: string,
    request: WriteRequest,
    args: Readonly<Record<Exclude<Arg, 'ttlMs' | 'opId'>, string>>,
    options: StoreCallOptions | undefined,
  ): Promise<{ record: CircuitRecord; outcome: string }> {
    const allArgs = { ...args, ttlMs: this.#ttlMs, opId: opIdArg(request.opId) } as Readonly<
      Record<Arg | 'ttlMs' | 'opId', string>
    >
    const now = finite('now', request.now)
    const { record, outcome } = await this.#run(script, circuitId, allArgs, now, options)
    if (record === undefined) throw new Error(`fleet-breaker: the Redis ${script.name} script returned no record`)
    return { record, outcome }
  }

  async get(circuitId: string, options?: StoreCallOptions): Promise<CircuitRecord | undefined> {
    const answer = await this.#run(Scripts.get, circuitId, {}, options?.now ?? Date.now(), options)
    return answer.record
  }

  /** Reads each circuit with its own call, in parallel: in a cluster the keys live in different slots. */
  async getMany(
    circuitIds: readonly string[],
    options?: StoreCallOptions,
  ): Promise<ReadonlyMap<string, CircuitRecord>> {
    const now = options?.now ?? Date.now()
    const unique = [...new Set(circuitIds)]
    const records = await Promise.all(unique.map((circuitId) => this.get(circuitId, { ...options, now })))
    const found = new Map<string, CircuitRecord>()
    unique.forEach((circuitId, index) => {
      const record = records[index]
      if (record !== undefined) found.set(circuitId, record)
    })
    return found
  }

  async addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const args = {
      generation: numberArg('generation', request.generation),
      incarnation: fenceArg('incarnation', request.incarnation),
      windowMs: numberArg('windowMs', request.windowMs),
      environment: optionalIdArg('environment', request.environment),
    }
    return (await this.#write(Scripts.addFailure, circuitId, request, args, options)).record
  }

  async addCounts(circuitId: string, request: AddCountsRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const args = {
      generation: numberArg('generation', request.generation),
      incarnation: fenceArg('incarnation', request.incarnation),
      windowMs: numberArg('windowMs', request.windowMs),
      calls: countArg('calls', request.calls),
      failures: countArg('failures', request.failures),
      slowCalls: countArg('slowCalls', request.slowCalls),
      environment: optionalIdArg('environment', request.environment),
    }
    return (await this.#write(Scripts.addCounts, circuitId, request, args, options)).record
  }

  async resetFailures(
    circuitId: string,
    request: ResetFailuresRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    const args = {
      generation: numberArg('generation', request.generation),
      incarnation: fenceArg('incarnation', request.incarnation),
    }
    return (await this.#write(Scripts.resetFailures, circuitId, request, args, options)).record
  }

  async transition(
    circuitId: string,
    request: TransitionRequest,
    options?: StoreCallOptions,
  ): Promise<TransitionOutcome> {
    const { from, guard, to } = request
    const args = {
      fromState: textArg('from.state', from.state),
      fromGeneration: numberArg('from.generation', from.generation),
      fromIncarnation: fenceArg('from.incarnation', from.incarnation),
      minFailures: optionalNumberArg('guard.minFailures', guard?.minFailures),
      minCalls: optionalNumberArg('guard.minCalls', guard?.minCalls),
      maxCalls: optionalNumberArg('guard.maxCalls', guard?.maxCalls),
      minSlowCalls: optionalNumberArg('guard.minSlowCalls', guard?.minSlowCalls),
      minEnvironments: optionalNumberArg('guard.minEnvironments', guard?.minEnvironments),
      minSuccesses: optionalNumberArg('guard.minSuccesses', guard?.minSuccesses),
      retryDue: flag(guard?.retryDue === true),
      // A token may be any string, '' included, so presence travels apart from the text.
      hasProbeGuard: flag(guard?.probeToken !== undefined),
      probeGuard: guard?.probeToken === undefined ? '' : textArg('guard.probeToken', guard.probeToken),
      toState: textArg('to.state', to.state),
      openCount: to.state === CircuitState.OPEN ? countArg('to.openCount', to.openCount) : '',
      retryInMs: to.state === CircuitState.OPEN ? numberArg('to.retryInMs', to.retryInMs) : '',
      probeToken: to.state === CircuitState.HALF_OPEN ? textArg('to.probe.token', to.probe.token) : '',
      leaseMs: to.state === CircuitState.HALF_OPEN ? numberArg('to.probe.leaseMs', to.probe.leaseMs) : '',
    }
    const { record, outcome } = await this.#write(Scripts.transition, circuitId, request, args, options)
    return { applied: outcome === '1', record }
  }

  async acquireProbe(
    circuitId: string,
    request: AcquireProbeRequest,
    options?: StoreCallOptions,
  ): Promise<ProbeOutcome> {
    const args = {
      generation: numberArg('generation', request.generation),
      maxProbes: countArg('maxProbes', request.maxProbes),
      token: textArg('token', request.token),
      leaseMs: numberArg('leaseMs', request.leaseMs),
    }
    const { record, outcome } = await this.#write(Scripts.acquireProbe, circuitId, request, args, options)
    if (outcome === '') return { record }
    const slot = Number(outcome)
    const lease = record.state === CircuitState.HALF_OPEN ? record.probes.find((held) => held.slot === slot) : undefined
    if (lease === undefined) {
      throw new Error(`fleet-breaker: the Redis acquireProbe script took slot ${outcome} but holds no lease there`)
    }
    return { lease, record }
  }

  async completeProbe(
    circuitId: string,
    request: CompleteProbeRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    const args = {
      generation: numberArg('generation', request.generation),
      token: textArg('token', request.token),
      success: flag(request.success),
    }
    return (await this.#write(Scripts.completeProbe, circuitId, request, args, options)).record
  }

  async setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const args = overrideArgs(request.forced, request, request.onlyIfActor, request.orNoOverride)
    return (await this.#write(Scripts.setForced, circuitId, request, args, options)).record
  }

  async setShadow(circuitId: string, request: SetShadowRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const { shadow } = request
    const args = {
      ...historyArgs(setShadowEntry(shadow, request, 0)),
      on: flag(shadow !== undefined),
      hasReason: flag(shadow?.reason !== undefined),
      reason: shadow?.reason === undefined ? '' : textArg('shadow.reason', shadow.reason),
      durationMs: optionalNumberArg('shadow.durationMs', shadow?.durationMs),
      hasActor: flag(shadow?.actor !== undefined),
      actor: shadow?.actor === undefined ? '' : textArg('shadow.actor', shadow.actor),
    }
    return (await this.#write(Scripts.setShadow, circuitId, request, args, options)).record
  }

  async reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const args = historyArgs(historyEntry(HistoryAction.RESET, 0, request))
    return (await this.#write(Scripts.reset, circuitId, request, args, options)).record
  }

  /**
   * One page of circuits: a `SCAN` over the keys of the prefix on each master in turn (every master
   * of a Redis Cluster, one after the other), then a read of each key found. `limit` is the SCAN's
   * `COUNT`, a hint. SCAN may return a key twice across pages (while the server resizes its key
   * table); callers de-duplicate by id. Keys of other types, and hashes that are not records, are
   * logged and left out.
   */
  async list(request: ListRequest, options?: StoreCallOptions): Promise<ListPage> {
    const limit = listLimit(request)
    const position = decodeListCursor(
      request.cursor,
      (value): value is { a: string; c: string } =>
        isPlainObject(value) && typeof value.a === 'string' && typeof value.c === 'string' && isScanCursor(value.c),
    )
    options?.signal?.throwIfAborted()
    // A client still connecting is waited for, as a script call waits for it (see script-runner.ts).
    await this.#client.connecting()
    options?.signal?.throwIfAborted()
    const nodes = await scanNodesOf(this.#client.raw)
    const keys: string[] = []
    let node: ScanNode | undefined = position === undefined ? nodes[0] : nodes.find((n) => n.address >= position.a)
    // A node that left the cluster since the last page: its keys are on the node after it now.
    let cursor = position !== undefined && node?.address === position.a ? position.c : '0'
    const pattern = `${escapeGlob(this.#keyPrefix)}{*}`
    for (let scans = 0; node !== undefined && scans < MAX_SCANS_PER_PAGE && keys.length < limit; scans++) {
      options?.signal?.throwIfAborted()
      const page = await node.scan(cursor, pattern, Math.max(limit - keys.length, MIN_SCAN_COUNT))
      keys.push(...page.keys)
      cursor = page.cursor
      if (cursor === '0') {
        const index = nodes.indexOf(node)
        node = nodes[index + 1]
      }
    }
    const now = options?.now ?? Date.now()
    const circuitIds = [...new Set(keys.map((key) => this.#circuitIdOf(key)).filter((id) => id !== undefined))]
    const read = await Promise.all(
      circuitIds.map(async (circuitId): Promise<ListedCircuit | undefined> => {
        const answer = await this.#run(Scripts.get, circuitId, {}, now, options)
        // Gone since the scan, or not a record (logged once by #run): left out.
        if (answer.record === undefined || answer.problem !== undefined) return undefined
        return { circuitId, record: answer.record }
      }),
    )
    const circuits = read.filter((circuit) => circuit !== undefined)
    return node === undefined ? { circuits } : { circuits, cursor: encodeListCursor({ a: node.address, c: cursor }) }
  }

  /** The circuit id a key of this store holds, or `undefined` for a key that is not one. */
  #circuitIdOf(key: string): string | undefined {
    const opening = `${this.#keyPrefix}{`
    if (!key.startsWith(opening) || !key.endsWith('}') || key.length <= opening.length + 1) return undefined
    const circuitId = key.slice(opening.length, -1)
    return this.keyFor(circuitId) === key ? circuitId : undefined
  }

  /**
   * Sets each override with its own atomic call, in parallel (keys may live in different cluster
   * slots), each new generation made by `request.opId`.
   */
  async setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void> {
    const { opId, now } = request
    // Checked before any circuit is written, so a bad request changes none of them.
    opIdArg(opId)
    finite('now', now)
    const requests = entries.map(({ circuitId, forced }) => ({
      circuitId,
      args: overrideArgs(forced, request, undefined, false),
    }))
    await Promise.all(
      requests.map(({ circuitId, args }) => this.#write(Scripts.setForced, circuitId, { opId, now }, args, options)),
    )
  }

  /** Deletes each circuit's key with its own call, in parallel (keys may live in different cluster slots). */
  async clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void> {
    await Promise.all(
      [...new Set(circuitIds)].map((circuitId) =>
        runScript(this.#client, Scripts.clear, this.keyFor(circuitId), {}, options?.signal),
      ),
    )
  }
}

/** How many SCAN calls one page may make before it answers with what it found (maybe nothing). */
const MAX_SCANS_PER_PAGE = 16
/** The least COUNT a SCAN asks for: a smaller one only adds round trips. */
const MIN_SCAN_COUNT = 10

/** `text` with the characters SCAN's MATCH treats as a pattern escaped. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`)
}

/** The history entry's fields as a script takes them (its time is the server's, set by the script). */
function historyArgs(entry: HistoryEntry) {
  return { historyAction: entry.action, historyActor: entry.actor ?? '', historyReason: entry.reason ?? '' }
}

function overrideArgs(
  forced: OverrideRequest | undefined,
  note: OperatorNote,
  onlyIfActor: string | undefined,
  orNoOverride?: boolean,
): Record<Exclude<(typeof Scripts.setForced.args)[number], 'ttlMs' | 'opId'>, string> {
  if (forced !== undefined && forced.state !== CircuitState.OPEN && forced.state !== CircuitState.CLOSED) {
    throw new TypeError(`forced.state must be 'OPEN' or 'CLOSED'; received ${String(forced.state)}`)
  }
  return {
    ...historyArgs(setForcedEntry(forced, note, 0)),
    forcedState: forced?.state ?? '',
    // An empty reason is still a reason, so presence travels apart from the text.
    hasReason: flag(forced?.reason !== undefined),
    reason: forced?.reason === undefined ? '' : textArg('forced.reason', forced.reason),
    durationMs: optionalNumberArg('forced.durationMs', forced?.durationMs),
    hasActor: flag(forced?.actor !== undefined),
    actor: forced?.actor === undefined ? '' : textArg('forced.actor', forced.actor),
    hasOnlyIfActor: flag(onlyIfActor !== undefined),
    onlyIfActor: onlyIfActor === undefined ? '' : textArg('onlyIfActor', onlyIfActor),
    orNoOverride: flag(orNoOverride === true),
  }
}

/** Whether `text` is a cursor SCAN takes (an unsigned 64-bit number); any other makes the server fail the call. */
function isScanCursor(text: string): boolean {
  return /^\d{1,20}$/.test(text) && BigInt(text) <= 18_446_744_073_709_551_615n
}

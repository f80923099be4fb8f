import { createHash } from 'node:crypto'
import { CircuitState, FlatField, MAX_PROBE_SLOTS, probeExpiresField, probeTokenField } from '@fleet-breaker/core'

/*
 * One Lua script per store operation. Each runs atomically on the server, so "read the record,
 * check the condition, write the next record" is a single step no other environment can interleave
 * with. The rules are those of core's `semantics.ts`; the field names and validity rules are those
 * of core's `flat-record.ts`, injected below so they are written once.
 *
 * Every script decides with the server's clock (`TIME`) and stores times in it. Each reply is a flat
 * array of strings: `[serverNow, problem, outcome, field, value, field, value, ...]`, where
 * `problem` says why the stored data was unreadable ('' when it was fine or absent), `outcome` is
 * the operation's own answer (the transition's applied flag, the probe slot taken) and the pairs
 * are the resulting record, absent only when `get` finds no record. Numbers travel as strings
 * because Redis truncates Lua numbers in replies to integers.
 */

/** A script ready to call: its source, the SHA1 Redis knows it by, and its named arguments in order. */
export interface LuaScript<Arg extends string = string> {
  readonly name: string
  readonly source: string
  readonly sha: string
  readonly args: readonly Arg[]
}

/** Quotes a name for Lua; names are plain identifiers, so no escaping is ever needed. */
function luaString(value: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(value)) throw new Error(`not a plain Lua name: ${value}`)
  return `'${value}'`
}

function luaTable(entries: ReadonlyArray<readonly [string, string]>): string {
  return `{ ${entries.map(([key, value]) => `${key} = ${value}`).join(', ')} }`
}

const slots = Array.from({ length: MAX_PROBE_SLOTS }, (_, slot) => slot)

const PRELUDE = `
local F = ${luaTable(Object.entries(FlatField).map(([name, field]) => [name, luaString(field)]))}
local CLOSED, OPEN, HALF_OPEN = ${luaString(CircuitState.CLOSED)}, ${luaString(CircuitState.OPEN)}, ${luaString(CircuitState.HALF_OPEN)}
local COUNTER = { [CLOSED] = F.FAILURES, [OPEN] = F.RETRY_AT, [HALF_OPEN] = F.SUCCESSES }
local MAX_PROBE_SLOTS = ${MAX_PROBE_SLOTS}
local PROBE_TOKEN = ${luaTable(slots.map((slot) => [`[${slot}]`, luaString(probeTokenField(slot))]))}
local PROBE_EXPIRES = ${luaTable(slots.map((slot) => [`[${slot}]`, luaString(probeExpiresField(slot))]))}
local KEY = KEYS[1]

-- Strict on purpose (no hex, spaces, 'inf' or 'nan'): the TypeScript decoder accepts exactly the
-- same strings as numbers, so both sides agree on what a valid record is.
local function number_of(value)
  if type(value) ~= 'string' then return nil end
  if not (string.find(value, '^%-?%d+%.?%d*$') or string.find(value, '^%-?%d+%.?%d*[eE][%+%-]?%d+$')) then
    return nil
  end
  local number = tonumber(value)
  if number == nil or number ~= number or number == math.huge or number == -math.huge then return nil end
  return number
end

-- Whole numbers print in full ('%.0f'); tostring would switch to exponent notation past 14 digits.
local function format_number(number)
  if number == math.floor(number) and math.abs(number) < 1e15 then return string.format('%.0f', number) end
  return string.format('%.17g', number)
end

local function server_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function number_arg(name)
  local value = number_of(ARG[name])
  if value == nil then error('fleet-breaker: argument ' .. name .. ' must be a number') end
  return value
end

local function optional_number_arg(name)
  if ARG[name] == '' then return nil end
  return number_arg(name)
end

local function fresh_record(generation)
  return { state = CLOSED, generation = generation, openCount = 0, changedAt = 0, failures = 0, probes = {} }
end

-- Mirrors core's repairGeneration: keep a readable generation so writes aimed at it still match.
local function repair_generation(fields)
  local generation = number_of(fields[F.GENERATION])
  if generation ~= nil and generation >= 0 and generation == math.floor(generation) then return generation end
  return 0
end

-- Mirrors core's decodeFlatRecord: returns the record, or nil and why the fields are not one.
local function decode(fields)
  local state = fields[F.STATE]
  if state ~= CLOSED and state ~= OPEN and state ~= HALF_OPEN then
    return nil, 'unknown state ' .. (state == nil and 'undefined' or string.format('%q', state))
  end
  local missing = {}
  for _, field in ipairs({ F.GENERATION, F.OPEN_COUNT, F.CHANGED_AT, COUNTER[state] }) do
    if number_of(fields[field]) == nil then missing[#missing + 1] = field end
  end
  if #missing > 0 then return nil, 'missing or non-numeric ' .. table.concat(missing, ', ') end
  local record = {
    state = state,
    generation = number_of(fields[F.GENERATION]),
    openCount = number_of(fields[F.OPEN_COUNT]),
    changedAt = number_of(fields[F.CHANGED_AT]),
    probes = {},
  }
  if state == CLOSED then
    record.failures = number_of(fields[F.FAILURES])
    record.windowStartedAt = number_of(fields[F.WINDOW_STARTED_AT])
  elseif state == OPEN then
    record.retryAt = number_of(fields[F.RETRY_AT])
  else
    record.successes = number_of(fields[F.SUCCESSES])
    for slot = 0, MAX_PROBE_SLOTS - 1 do
      -- A half-written slot holds no lease: it is free for the next probe.
      local token, expires_at = fields[PROBE_TOKEN[slot]], number_of(fields[PROBE_EXPIRES[slot]])
      if token ~= nil and expires_at ~= nil then record.probes[slot] = { token = token, expiresAt = expires_at } end
    end
  end
  -- A malformed override is ignored rather than invalidating the record.
  local forced_state, forced_since = fields[F.FORCED_STATE], number_of(fields[F.FORCED_SINCE])
  if (forced_state == OPEN or forced_state == CLOSED) and forced_since ~= nil then
    record.forced = {
      state = forced_state,
      since = forced_since,
      reason = fields[F.FORCED_REASON],
      untilAt = number_of(fields[F.FORCED_UNTIL]),
    }
  end
  return record
end

-- Reads the circuit: its record (a fresh one when absent or unreadable), whether the key exists,
-- and why its data was unreadable ('' when it was fine). Foreign data never raises an error.
local function load_record()
  local kind = redis.call('TYPE', KEY)['ok']
  if kind == 'none' then return fresh_record(0), false, '' end
  if kind ~= 'hash' then return fresh_record(0), true, 'the key holds a ' .. kind .. ', not a hash' end
  local flat = redis.call('HGETALL', KEY)
  local fields = {}
  for index = 1, #flat, 2 do fields[flat[index]] = flat[index + 1] end
  local record, problem = decode(fields)
  if record == nil then return fresh_record(repair_generation(fields)), true, problem end
  return record, true, ''
end

-- Mirrors core's encodeFlatRecord: absent optional fields are left out.
local function encode(record)
  local flat = {}
  local function put(field, value) flat[#flat + 1] = field; flat[#flat + 1] = value end
  put(F.STATE, record.state)
  put(F.GENERATION, format_number(record.generation))
  put(F.OPEN_COUNT, format_number(record.openCount))
  put(F.CHANGED_AT, format_number(record.changedAt))
  if record.state == CLOSED then
    put(F.FAILURES, format_number(record.failures))
    if record.windowStartedAt ~= nil then put(F.WINDOW_STARTED_AT, format_number(record.windowStartedAt)) end
  elseif record.state == OPEN then
    put(F.RETRY_AT, format_number(record.retryAt))
  else
    put(F.SUCCESSES, format_number(record.successes))
    for slot = 0, MAX_PROBE_SLOTS - 1 do
      local lease = record.probes[slot]
      if lease ~= nil then
        put(PROBE_TOKEN[slot], lease.token)
        put(PROBE_EXPIRES[slot], format_number(lease.expiresAt))
      end
    end
  end
  if record.forced ~= nil then
    put(F.FORCED_STATE, record.forced.state)
    put(F.FORCED_SINCE, format_number(record.forced.since))
    if record.forced.reason ~= nil then put(F.FORCED_REASON, record.forced.reason) end
    if record.forced.untilAt ~= nil then put(F.FORCED_UNTIL, format_number(record.forced.untilAt)) end
  end
  return flat
end

-- Replaces the whole hash: foreign data, stray fields and fields the new state no longer uses all
-- go, so the key holds exactly the record. Then sets how long an idle circuit is kept.
local function save(record, now)
  redis.call('DEL', KEY)
  redis.call('HSET', KEY, unpack(encode(record)))
  if record.forced ~= nil and record.forced.untilAt == nil then
    -- Forced until cleared: the record must not expire, or the override would silently vanish.
    -- The key was just rewritten, so it already has no expiry (the effect of PERSIST).
    return
  end
  -- Never expire before the times the record still relies on have passed.
  local keep_until = now
  if record.forced ~= nil and record.forced.untilAt > keep_until then keep_until = record.forced.untilAt end
  if record.retryAt ~= nil and record.retryAt > keep_until then keep_until = record.retryAt end
  redis.call('PEXPIRE', KEY, format_number(math.ceil(keep_until - now + number_arg('ttlMs'))))
end

local function reply(now, record, problem, outcome)
  local out = { format_number(now), problem, outcome }
  if record ~= nil then
    for _, value in ipairs(encode(record)) do out[#out + 1] = value end
  end
  return out
end
`

/**
 * Builds a script from the prelude and `body`. The arguments are bound by name in the order given,
 * so a call site passes them as an object and cannot get the order wrong.
 */
function defineScript<const Arg extends string>(name: string, args: readonly Arg[], body: string): LuaScript<Arg> {
  const bindings = args.map((arg, index) => `ARG[${luaString(arg)}] = ARGV[${index + 1}]`).join('\n')
  const source = `-- fleet-breaker: ${name}\nlocal ARG = {}\n${bindings}\n${PRELUDE}\n${body.trim()}\n`
  // The SHA1 of the source is the name Redis gives a script, so no SCRIPT LOAD round trip is needed.
  const sha = createHash('sha1').update(source).digest('hex')
  return { name, source, sha, args }
}

/** Arguments of every write: how long an idle record is kept, in milliseconds. */
const TTL = 'ttlMs'

/** The script of each store operation. */
export const Scripts = {
  get: defineScript(
    'get',
    [],
    `
local record, exists, problem = load_record()
return reply(server_now(), exists and record or nil, problem, '')
`,
  ),

  addFailure: defineScript(
    'addFailure',
    [TTL, 'generation', 'windowMs'],
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == CLOSED and record.generation == number_arg('generation') then
  local started = record.windowStartedAt
  if record.failures > 0 and started ~= nil and now - started < number_arg('windowMs') then
    record.failures = record.failures + 1
  else
    record.failures = 1
    record.windowStartedAt = now
  end
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  resetFailures: defineScript(
    'resetFailures',
    [TTL, 'generation'],
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == CLOSED and record.generation == number_arg('generation') and record.failures ~= 0 then
  record.failures = 0
  record.windowStartedAt = nil
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  transition: defineScript(
    'transition',
    [
      TTL,
      'fromState',
      'fromGeneration',
      'minFailures',
      'minSuccesses',
      'retryDue',
      'toState',
      'openCount',
      'retryInMs',
      'probeToken',
      'leaseMs',
    ],
    `
local now = server_now()
local record, _, problem = load_record()
local applied = record.state == ARG['fromState'] and record.generation == number_arg('fromGeneration')
local min_failures, min_successes = optional_number_arg('minFailures'), optional_number_arg('minSuccesses')
if applied and min_failures ~= nil and (record.state ~= CLOSED or record.failures < min_failures) then
  applied = false
end
if applied and min_successes ~= nil and (record.state ~= HALF_OPEN or record.successes < min_successes) then
  applied = false
end
-- The retry time is judged by the server's clock, the one it was set by.
if applied and ARG['retryDue'] == '1' and (record.state ~= OPEN or record.retryAt > now) then
  applied = false
end
if applied then
  local to = ARG['toState']
  -- Only the common fields and the override carry over; the new state's own fields start afresh.
  local changed = { state = to, generation = record.generation + 1, changedAt = now, forced = record.forced, probes = {} }
  if to == OPEN then
    changed.openCount = number_arg('openCount')
    changed.retryAt = now + number_arg('retryInMs')
  elseif to == HALF_OPEN then
    changed.openCount = record.openCount
    changed.successes = 0
    changed.probes[0] = { token = ARG['probeToken'], expiresAt = now + number_arg('leaseMs') }
  elseif to == CLOSED then
    changed.openCount = 0
    changed.failures = 0
  else
    error('fleet-breaker: unknown target state ' .. tostring(to))
  end
  record = changed
  save(record, now)
end
return reply(now, record, problem, applied and '1' or '0')
`,
  ),

  acquireProbe: defineScript(
    'acquireProbe',
    [TTL, 'generation', 'maxProbes', 'token', 'leaseMs'],
    `
local now = server_now()
local record, _, problem = load_record()
local taken = ''
if record.state == HALF_OPEN and record.generation == number_arg('generation') then
  local max_probes = number_arg('maxProbes')
  local slot = 0
  -- The lowest slot that is free or whose lease has lapsed; a record has MAX_PROBE_SLOTS at most.
  while slot < max_probes and slot < MAX_PROBE_SLOTS do
    local holder = record.probes[slot]
    if holder == nil or holder.expiresAt <= now then
      record.probes[slot] = { token = ARG['token'], expiresAt = now + number_arg('leaseMs') }
      taken = tostring(slot)
      save(record, now)
      break
    end
    slot = slot + 1
  end
end
return reply(now, record, problem, taken)
`,
  ),

  completeProbe: defineScript(
    'completeProbe',
    [TTL, 'generation', 'token', 'success'],
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == HALF_OPEN and record.generation == number_arg('generation') then
  local released = false
  for slot = 0, MAX_PROBE_SLOTS - 1 do
    local lease = record.probes[slot]
    if lease ~= nil and lease.token == ARG['token'] then
      record.probes[slot] = nil
      released = true
    end
  end
  local success = ARG['success'] == '1'
  if released or success then
    if success then record.successes = record.successes + 1 end
    save(record, now)
  end
end
return reply(now, record, problem, '')
`,
  ),

  setForced: defineScript(
    'setForced',
    [TTL, 'forcedState', 'hasReason', 'reason', 'durationMs'],
    `
local now = server_now()
local record, _, problem = load_record()
record.generation = record.generation + 1
local forced_state = ARG['forcedState']
if forced_state == '' then
  record.forced = nil
elseif forced_state == OPEN or forced_state == CLOSED then
  local duration = optional_number_arg('durationMs')
  record.forced = {
    state = forced_state,
    since = now,
    reason = ARG['hasReason'] == '1' and ARG['reason'] or nil,
    untilAt = duration ~= nil and now + duration or nil,
  }
else
  error('fleet-breaker: unknown forced state ' .. forced_state)
end
save(record, now)
return reply(now, record, problem, '')
`,
  ),

  reset: defineScript(
    'reset',
    [TTL],
    `
local now = server_now()
local record, _, problem = load_record()
local fresh = fresh_record(record.generation + 1)
fresh.changedAt = now
save(fresh, now)
return reply(now, fresh, problem, '')
`,
  ),

  clear: defineScript(
    'clear',
    [],
    `
redis.call('UNLINK', KEY)
return 1
`,
  ),
} as const

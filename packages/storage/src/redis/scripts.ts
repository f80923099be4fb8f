import { createHash } from 'node:crypto'
import {
  CircuitState,
  changeField,
  FlatField,
  HistoryAction,
  MAX_FAILING_ENVIRONMENTS,
  MAX_HISTORY,
  MAX_PROBE_SLOTS,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  probeExpiresField,
  probeTokenField,
} from '@fleet-breaker/core'

/*
 * One Lua script per store operation. Each runs atomically on the server, so "read the record,
 * check the condition, write the next record" is a single step no other environment can interleave
 * with. The rules are those of core's `semantics.ts`; the field names and validity rules are those
 * of core's `flat-record.ts`, injected below so they are written once.
 *
 * Every script first reads and checks all of its arguments, and only then touches the key: a
 * script that fails must fail before its first write, because Redis does not undo the writes a
 * script made before an error.
 *
 * Every write carries an op id and is idempotent under it, as the contract requires: a transition,
 * an override or a reset already made by that op id (`changedBy`) changes nothing, and neither does
 * a counting write whose id is among the record's `recentOps`. So a command applied twice (a client
 * re-sending a command whose answer was lost with its connection) counts once, and answers as the
 * first application did.
 *
 * Every script decides with the server's clock (`TIME`) and stores times in it. Each reply is a flat
 * array of strings: `[serverNow, problem, outcome, field, value, field, value, ...]`, where
 * `problem` says why the stored data was unreadable ('' when it was fine or absent), `outcome` is
 * the operation's own answer (the transition's applied flag, the probe slot held) and the pairs
 * are the resulting record, absent only when `get` finds no record. Numbers travel as strings
 * because Redis truncates Lua numbers in replies to integers.
 */

/** How a script reads one of its arguments (each arrives as a string). */
const ArgKind = {
  /** A finite number. */
  NUMBER: 'number',
  /** A finite number, or '' for none. */
  OPTIONAL_NUMBER: 'optionalNumber',
  /** A whole number from 0 to 2^53 - 1. */
  COUNT: 'count',
  /** A whole number from 0 to 2^53 - 1, or '' for none. */
  OPTIONAL_COUNT: 'optionalCount',
  /** An op id: 1 to 64 printable ASCII characters, no spaces. */
  OP_ID: 'opId',
  /** An op id (or an environment id, which has the same form), or '' for none. */
  OPTIONAL_OP_ID: 'optionalOpId',
  /** Any string. */
  TEXT: 'text',
  /** '1' or '0'. */
  FLAG: 'flag',
  /** A circuit state name. */
  STATE: 'state',
  /** A state an override can force ('OPEN' or 'CLOSED'), or '' for none. */
  FORCED_STATE: 'forcedState',
  /** A history action name: lower-case letters and dashes. */
  HISTORY_ACTION: 'historyAction',
} as const
type ArgKind = (typeof ArgKind)[keyof typeof ArgKind]

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
const changeSlots = Array.from({ length: MAX_RECENT_CHANGES }, (_, slot) => slot)

/**
 * The longest expiry the store gives a key: 100 years, in milliseconds. A record relying on a time
 * further away (an override for a huge duration, say) is kept this long past each write, which is
 * "until the far future" in practice; PEXPIRE could not take the exact figure anyway (it must fit a
 * 64-bit integer once added to the server's clock, and be written without an exponent).
 */
export const MAX_EXPIRY_MS = 100 * 365.25 * 24 * 60 * 60 * 1_000

const PRELUDE = `
local F = ${luaTable(Object.entries(FlatField).map(([name, field]) => [name, luaString(field)]))}
local CLOSED, OPEN, HALF_OPEN = ${luaString(CircuitState.CLOSED)}, ${luaString(CircuitState.OPEN)}, ${luaString(CircuitState.HALF_OPEN)}
local COUNTER = { [CLOSED] = F.FAILURES, [OPEN] = F.RETRY_AT, [HALF_OPEN] = F.SUCCESSES }
local MAX_PROBE_SLOTS = ${MAX_PROBE_SLOTS}
local MAX_RECENT_OPS = ${MAX_RECENT_OPS}
local MAX_FAILING_ENVIRONMENTS = ${MAX_FAILING_ENVIRONMENTS}
local MAX_HISTORY = ${MAX_HISTORY}
local HISTORY_ACTIONS = ${luaTable(Object.values(HistoryAction).map((action) => [`['${action}']`, 'true']))}
local MAX_EXPIRY_MS = ${MAX_EXPIRY_MS}
-- 2^53 - 1: past it, doubles lose their units digit and generation + 1 could equal generation.
local MAX_COUNT = 9007199254740991
local MAX_RECENT_CHANGES = ${MAX_RECENT_CHANGES}
-- The field naming the transition that started a generation, by generation modulo MAX_RECENT_CHANGES.
local CHANGE = ${luaTable(changeSlots.map((slot) => [`[${slot}]`, luaString(changeField(slot))]))}
local PROBE_TOKEN = ${luaTable(slots.map((slot) => [`[${slot}]`, luaString(probeTokenField(slot))]))}
local PROBE_EXPIRES = ${luaTable(slots.map((slot) => [`[${slot}]`, luaString(probeExpiresField(slot))]))}
local KEY = KEYS[1]
-- The arguments, read and checked before the operation runs (see the end of the prelude).
local A = {}

-- Strict on purpose (no hex, spaces, 'inf' or 'nan'): the TypeScript decoder accepts exactly the
-- same strings as numbers, so both sides agree on what a valid record is.
local function number_of(value)
  if type(value) ~= 'string' then return nil end
  if not (string.find(value, '^%-?%d+%.?%d*$') or string.find(value, '^%-?%d+%.?%d*[eE][%+%-]?%d+$')) then
    return nil
  end
  local number = tonumber(value)
  if number == nil or number ~= number or number == math.huge or number == -math.huge then return nil end
  -- '-0' reads as 0, the same number, so that no record ever holds a signed zero.
  return number + 0
end

-- Mirrors core's isCount: a whole number from 0 to 2^53 - 1.
local function is_count(number)
  return number ~= nil and number >= 0 and number <= MAX_COUNT and number == math.floor(number)
end

-- Mirrors core's isOpId: 1 to 64 printable ASCII characters, no spaces ('!' to '~').
local function is_op_id(value)
  return type(value) == 'string' and #value >= 1 and #value <= 64 and string.find(value, '^[!-~]+$') ~= nil
end

-- Mirrors core's changeValue: '<generation> <op id>'. Which generation it names, core reads.
local function is_change(value)
  if type(value) ~= 'string' then return false end
  local generation, op_id = string.match(value, '^(%d+) (.+)$')
  return generation ~= nil and is_op_id(op_id)
end

-- Whole numbers print in full ('%.0f'); tostring would switch to exponent notation past 14 digits.
local function format_number(number)
  if number == math.floor(number) and math.abs(number) <= MAX_COUNT then return string.format('%.0f', number) end
  return string.format('%.17g', number)
end

local function server_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function fresh_record(generation)
  return {
    state = CLOSED, generation = generation, openCount = 0, changedAt = 0, failures = 0,
    incarnation = '', recentOps = {}, changes = {}, failingEnvironments = {}, probes = {},
  }
end

-- Mirrors core's repairGeneration: keep a readable generation so writes aimed at it still match.
local function repair_generation(fields)
  local generation = number_of(fields[F.GENERATION])
  if is_count(generation) then return generation end
  return 0
end

-- Mirrors core's decodeIds: the valid ids of a space-separated list, the newest max of them.
local function decode_ids(text, max)
  local ids = {}
  if text == nil then return ids end
  for id in string.gmatch(text, '[^ ]+') do
    if is_op_id(id) then ids[#ids + 1] = id end
  end
  if #ids <= max then return ids end
  local newest = {}
  for index = #ids - max + 1, #ids do newest[#newest + 1] = ids[index] end
  return newest
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
  local bad_counts = {}
  for _, field in ipairs({ F.GENERATION, F.OPEN_COUNT, F.FAILURES, F.SUCCESSES, F.CALLS, F.SLOW_CALLS }) do
    if fields[field] ~= nil and not is_count(number_of(fields[field])) then bad_counts[#bad_counts + 1] = field end
  end
  if #bad_counts > 0 then return nil, 'not a whole number from 0 to 2^53 - 1: ' .. table.concat(bad_counts, ', ') end
  local incarnation = fields[F.INCARNATION]
  if incarnation ~= nil and not is_op_id(incarnation) then return nil, 'malformed incarnation' end
  local record = {
    state = state,
    generation = number_of(fields[F.GENERATION]),
    openCount = number_of(fields[F.OPEN_COUNT]),
    changedAt = number_of(fields[F.CHANGED_AT]),
    incarnation = incarnation or '',
    recentOps = decode_ids(fields[F.RECENT_OPS], MAX_RECENT_OPS),
    -- The transitions' fields (see core's changeField) are kept as they are, by slot; unreadable ones go.
    changes = {},
    failingEnvironments = {},
    probes = {},
  }
  -- Malformed ones are not saved again, but go back in the reply once so core reports them.
  for slot = 0, MAX_RECENT_CHANGES - 1 do
    local change = fields[CHANGE[slot]]
    if is_change(change) then
      record.changes[slot] = change
    elseif change ~= nil then
      record.malformed = record.malformed or {}
      record.malformed[#record.malformed + 1] = CHANGE[slot]
      record.malformed[#record.malformed + 1] = change
    end
  end
  -- An unreadable changedBy is dropped, not fatal: no retried write can match it then.
  if is_op_id(fields[F.CHANGED_BY]) then record.changedBy = fields[F.CHANGED_BY] end
  if state == CLOSED then
    record.failures = number_of(fields[F.FAILURES])
    record.windowStartedAt = number_of(fields[F.WINDOW_STARTED_AT])
    -- Present only in failure-rate mode; when present they are counts (checked above).
    record.calls = number_of(fields[F.CALLS])
    record.slowCalls = number_of(fields[F.SLOW_CALLS])
    record.failingEnvironments = decode_ids(fields[F.FAILING_ENVIRONMENTS], MAX_FAILING_ENVIRONMENTS)
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
  -- A malformed override is ignored rather than invalidating the record; an end that cannot be
  -- read drops the whole override, so a timed override never turns into a permanent one.
  local forced_state, forced_since = fields[F.FORCED_STATE], number_of(fields[F.FORCED_SINCE])
  local until_text = fields[F.FORCED_UNTIL]
  if (forced_state == OPEN or forced_state == CLOSED) and forced_since ~= nil
    and (until_text == nil or number_of(until_text) ~= nil) then
    record.forced = {
      state = forced_state,
      since = forced_since,
      reason = fields[F.FORCED_REASON],
      untilAt = number_of(until_text),
      actor = fields[F.FORCED_ACTOR],
    }
  end
  -- The shadow override, read like the forced one; the history stays one string (see append_history).
  local shadow_since, shadow_until = number_of(fields[F.SHADOW_SINCE]), fields[F.SHADOW_UNTIL]
  if shadow_since ~= nil and (shadow_until == nil or number_of(shadow_until) ~= nil) then
    record.shadow = {
      since = shadow_since,
      untilAt = number_of(shadow_until),
      reason = fields[F.SHADOW_REASON],
      actor = fields[F.SHADOW_ACTOR],
    }
  end
  record.history = fields[F.HISTORY]
  return record
end

-- What the key held when the script read it: its type and, for a hash, its fields.
local STORED = { kind = 'none', fields = {} }

-- Reads the circuit: its record (a fresh one when absent or unreadable), whether the key exists,
-- and why its data was unreadable ('' when it was fine). Foreign data never raises an error.
local function load_record()
  local kind = redis.call('TYPE', KEY)['ok']
  STORED.kind = kind
  if kind == 'none' then return fresh_record(0), false, '' end
  if kind ~= 'hash' then return fresh_record(0), true, 'the key holds a ' .. kind .. ', not a hash' end
  local flat = redis.call('HGETALL', KEY)
  local fields = {}
  for index = 1, #flat, 2 do fields[flat[index]] = flat[index + 1] end
  STORED.fields = fields
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
  if record.incarnation ~= '' then put(F.INCARNATION, record.incarnation) end
  if record.changedBy ~= nil then put(F.CHANGED_BY, record.changedBy) end
  if #record.recentOps > 0 then put(F.RECENT_OPS, table.concat(record.recentOps, ' ')) end
  for slot = 0, MAX_RECENT_CHANGES - 1 do
    if record.changes[slot] ~= nil then put(CHANGE[slot], record.changes[slot]) end
  end
  if record.state == CLOSED then
    put(F.FAILURES, format_number(record.failures))
    if record.windowStartedAt ~= nil then put(F.WINDOW_STARTED_AT, format_number(record.windowStartedAt)) end
    if record.calls ~= nil then put(F.CALLS, format_number(record.calls)) end
    if record.slowCalls ~= nil then put(F.SLOW_CALLS, format_number(record.slowCalls)) end
    if #record.failingEnvironments > 0 then
      put(F.FAILING_ENVIRONMENTS, table.concat(record.failingEnvironments, ' '))
    end
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
    if record.forced.actor ~= nil then put(F.FORCED_ACTOR, record.forced.actor) end
  end
  if record.shadow ~= nil then
    put(F.SHADOW_SINCE, format_number(record.shadow.since))
    if record.shadow.untilAt ~= nil then put(F.SHADOW_UNTIL, format_number(record.shadow.untilAt)) end
    if record.shadow.reason ~= nil then put(F.SHADOW_REASON, record.shadow.reason) end
    if record.shadow.actor ~= nil then put(F.SHADOW_ACTOR, record.shadow.actor) end
  end
  if record.history ~= nil and record.history ~= '' then put(F.HISTORY, record.history) end
  return flat
end

-- Makes the key hold exactly the record: foreign data, stray fields and fields the new state no
-- longer uses all go. The new fields are written first and the stale ones removed after, so a
-- write the server refuses (out of memory) fails before anything changed, never half way. Then
-- sets how long an idle circuit is kept.
local function save(record, now)
  local flat = encode(record)
  if STORED.kind ~= 'none' and STORED.kind ~= 'hash' then redis.call('DEL', KEY) end
  redis.call('HSET', KEY, unpack(flat))
  local kept = {}
  for index = 1, #flat, 2 do kept[flat[index]] = true end
  local stale = {}
  for field in pairs(STORED.fields) do
    if not kept[field] then stale[#stale + 1] = field end
  end
  if #stale > 0 then redis.call('HDEL', KEY, unpack(stale)) end
  if (record.forced ~= nil and record.forced.untilAt == nil) or (record.shadow ~= nil and record.shadow.untilAt == nil) then
    -- Forced (or shadowed) until cleared: the record must not expire, or the override would silently vanish.
    redis.call('PERSIST', KEY)
    return
  end
  -- Never expire before the times the record still relies on have passed, nor (whatever those
  -- times) later than MAX_EXPIRY_MS from now: PEXPIRE must always accept the figure.
  local keep_until = now
  local function keep_past(time)
    if time ~= nil and time > keep_until then keep_until = time end
  end
  if record.forced ~= nil then keep_past(record.forced.untilAt) end
  if record.shadow ~= nil then keep_past(record.shadow.untilAt) end
  keep_past(record.retryAt)
  for slot = 0, MAX_PROBE_SLOTS - 1 do
    if record.probes[slot] ~= nil then keep_past(record.probes[slot].expiresAt) end
  end
  local expiry = math.ceil(keep_until - now) + A.ttlMs
  if expiry > MAX_EXPIRY_MS then expiry = MAX_EXPIRY_MS end
  redis.call('PEXPIRE', KEY, format_number(expiry))
end

local function reply(now, record, problem, outcome)
  local out = { format_number(now), problem, outcome }
  if record ~= nil then
    local flat = encode(record)
    for _, value in ipairs(flat) do out[#out + 1] = value end
    -- Malformed transition names the write did not replace, which it dropped (see decode).
    local malformed = record.malformed
    if malformed ~= nil then
      local named = {}
      for index = 1, #flat, 2 do named[flat[index]] = true end
      for index = 1, #malformed, 2 do
        if not named[malformed[index]] then
          out[#out + 1] = malformed[index]
          out[#out + 1] = malformed[index + 1]
        end
      end
    end
  end
  return out
end

-- Mirrors core's hasApplied: whether the counting write op_id was already applied.
local function has_applied(record, op_id)
  for _, id in ipairs(record.recentOps) do
    if id == op_id then return true end
  end
  return false
end

-- Mirrors core's withRecentOp: the record's op ids with op_id added, the newest MAX_RECENT_OPS.
local function with_recent_op(record, op_id)
  local ops = {}
  local first = #record.recentOps - MAX_RECENT_OPS + 2
  if first < 1 then first = 1 end
  for index = first, #record.recentOps do ops[#ops + 1] = record.recentOps[index] end
  ops[#ops + 1] = op_id
  return ops
end

-- Mirrors core's withFailingEnvironment: the window's failing environments with environment added,
-- if it is new and there is room (first come).
local function with_failing_environment(environments, environment)
  if environment == nil or #environments >= MAX_FAILING_ENVIRONMENTS then return environments end
  for _, known in ipairs(environments) do
    if known == environment then return environments end
  end
  local added = {}
  for _, known in ipairs(environments) do added[#added + 1] = known end
  added[#added + 1] = environment
  return added
end

-- Mirrors core's withHistory on the stored form (core's encodeHistory): the history's lines with a
-- line for this action appended, the newest MAX_HISTORY kept. Lines that are not entries (corrupt
-- data) are dropped here; the action's texts come already shortened and free of tabs and breaks.
local function append_history(record, now, until_at)
  local lines = {}
  if record.history ~= nil then
    for line in string.gmatch(record.history, '[^\\n]+') do
      local action = string.match(line, '^%-?%d+%.?%d*\\t([a-z%-]+)\\t[^\\t]*\\t[^\\t]*\\t[%d%.%-]*$')
      if action ~= nil and HISTORY_ACTIONS[action] then lines[#lines + 1] = line end
    end
  end
  local until_text = ''
  if until_at ~= nil then until_text = format_number(until_at) end
  -- Tabs and line breaks would split the entry; the caller never sends them, and they never land.
  local actor = string.gsub(A.historyActor, '%c', ' ')
  local reason = string.gsub(A.historyReason, '%c', ' ')
  lines[#lines + 1] = table.concat({ format_number(now), A.historyAction, actor, reason, until_text }, '\\t')
  local first = #lines - MAX_HISTORY + 1
  if first < 1 then first = 1 end
  local kept = {}
  for index = first, #lines do kept[#kept + 1] = lines[index] end
  record.history = table.concat(kept, '\\n')
end

-- Mirrors core's isOfIncarnation: whether a write fenced on incarnation (nil: not fenced) may apply.
local function of_incarnation(record, incarnation)
  return incarnation == nil or record.incarnation == incarnation
end

-- The incarnation a write gives the record: its own, or the writer's op id for a new record.
local function incarnation_after(record, op_id)
  if record.incarnation == '' then return op_id end
  return record.incarnation
end

-- The slot of the lease held by token (lapsed or not), or nil.
local function lease_slot(record, token)
  for slot = 0, MAX_PROBE_SLOTS - 1 do
    local lease = record.probes[slot]
    if lease ~= nil and lease.token == token then return slot end
  end
  return nil
end

local function bad_argument(name, expected, value)
  local shown = value == nil and 'nothing' or string.format('%q', string.sub(value, 1, 80))
  error('fleet-breaker: argument ' .. name .. ' must be ' .. expected .. '; received ' .. shown)
end

local READ = {}
READ.number = function(name, value)
  local number = number_of(value)
  if number == nil then bad_argument(name, 'a finite number', value) end
  return number
end
READ.optionalNumber = function(name, value)
  if value == '' then return nil end
  return READ.number(name, value)
end
READ.count = function(name, value)
  local number = number_of(value)
  if not is_count(number) then bad_argument(name, 'a whole number from 0 to 2^53 - 1', value) end
  return number
end
READ.optionalCount = function(name, value)
  if value == '' then return nil end
  return READ.count(name, value)
end
READ.opId = function(name, value)
  if not is_op_id(value) then bad_argument(name, '1 to 64 printable ASCII characters without spaces', value) end
  return value
end
READ.optionalOpId = function(name, value)
  if value == '' then return nil end
  return READ.opId(name, value)
end
READ.text = function(_, value) return value end
READ.flag = function(name, value)
  if value ~= '1' and value ~= '0' then bad_argument(name, "'1' or '0'", value) end
  return value == '1'
end
READ.state = function(name, value)
  if value ~= CLOSED and value ~= OPEN and value ~= HALF_OPEN then bad_argument(name, 'a circuit state', value) end
  return value
end
READ.historyAction = function(name, value)
  if type(value) ~= 'string' or not string.find(value, '^[a-z%-]+$') then bad_argument(name, 'a history action', value) end
  return value
end
READ.forcedState = function(name, value)
  if value == '' then return nil end
  if value ~= OPEN and value ~= CLOSED then bad_argument(name, "'OPEN', 'CLOSED' or ''", value) end
  return value
end
`

/**
 * Builds a script from the prelude and `body`. The arguments are bound by name in the order given,
 * so a call site passes them as an object and cannot get the order wrong; each is read and checked
 * by its kind before `body` runs.
 */
function defineScript<const Args extends Readonly<Record<string, ArgKind>>>(
  name: string,
  args: Args,
  body: string,
): LuaScript<Extract<keyof Args, string>> {
  const names = Object.keys(args) as Extract<keyof Args, string>[]
  const bindings = names
    .map((arg, index) => `A[${luaString(arg)}] = READ.${args[arg]}(${luaString(arg)}, ARGV[${index + 1}])`)
    .join('\n')
  const source = `-- fleet-breaker: ${name}\n${PRELUDE}\n${bindings}\n${body.trim()}\n`
  // The SHA1 of the source is the name Redis gives a script, so no SCRIPT LOAD round trip is needed.
  const sha = createHash('sha1').update(source).digest('hex')
  return { name, source, sha, args: names }
}

/** Arguments of every write: how long an idle record is kept (ms), and the write's op id. */
const WRITE = { ttlMs: ArgKind.COUNT, opId: ArgKind.OP_ID } as const

/** Arguments of an operator's write: the history entry's action and texts, already shortened. */
const HISTORY_ARGS = {
  historyAction: ArgKind.HISTORY_ACTION,
  historyActor: ArgKind.TEXT,
  historyReason: ArgKind.TEXT,
} as const

/** The script of each store operation. */
export const Scripts = {
  get: defineScript(
    'get',
    {},
    `
local record, exists, problem = load_record()
return reply(server_now(), exists and record or nil, problem, '')
`,
  ),

  addFailure: defineScript(
    'addFailure',
    {
      ...WRITE,
      generation: ArgKind.NUMBER,
      incarnation: ArgKind.OPTIONAL_OP_ID,
      windowMs: ArgKind.NUMBER,
      environment: ArgKind.OPTIONAL_OP_ID,
    },
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == CLOSED and record.generation == A.generation and of_incarnation(record, A.incarnation)
  and not has_applied(record, A.opId) then
  record.incarnation = incarnation_after(record, A.opId)
  local started = record.windowStartedAt
  if record.failures > 0 and started ~= nil and now - started < A.windowMs then
    record.failures = record.failures + 1
    record.failingEnvironments = with_failing_environment(record.failingEnvironments, A.environment)
  else
    -- A new window keeps the op ids of the generation: a failure retried after its window lapsed
    -- must not count again in the new one. Its failing environments start afresh.
    record.failures = 1
    record.windowStartedAt = now
    record.failingEnvironments = with_failing_environment({}, A.environment)
  end
  record.recentOps = with_recent_op(record, A.opId)
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  addCounts: defineScript(
    'addCounts',
    {
      ...WRITE,
      generation: ArgKind.NUMBER,
      incarnation: ArgKind.OPTIONAL_OP_ID,
      windowMs: ArgKind.NUMBER,
      calls: ArgKind.COUNT,
      failures: ArgKind.COUNT,
      slowCalls: ArgKind.COUNT,
      environment: ArgKind.OPTIONAL_OP_ID,
    },
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == CLOSED and record.generation == A.generation and of_incarnation(record, A.incarnation)
  and not has_applied(record, A.opId) then
  record.incarnation = incarnation_after(record, A.opId)
  record.recentOps = with_recent_op(record, A.opId)
  -- Only an environment that reports failures counts towards a quorum of failing environments.
  local reporter = nil
  if A.failures > 0 then reporter = A.environment end
  local started = record.windowStartedAt
  if started ~= nil and now - started < A.windowMs and (record.failures > 0 or (record.calls or 0) > 0) then
    record.calls = (record.calls or 0) + A.calls
    record.failures = record.failures + A.failures
    record.slowCalls = (record.slowCalls or 0) + A.slowCalls
    record.failingEnvironments = with_failing_environment(record.failingEnvironments, reporter)
  else
    -- A new window starts with these counts.
    record.calls = A.calls
    record.failures = A.failures
    record.slowCalls = A.slowCalls
    record.windowStartedAt = now
    record.failingEnvironments = with_failing_environment({}, reporter)
  end
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  resetFailures: defineScript(
    'resetFailures',
    { ...WRITE, generation: ArgKind.NUMBER, incarnation: ArgKind.OPTIONAL_OP_ID },
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == CLOSED and record.generation == A.generation and record.failures ~= 0
  and not has_applied(record, A.opId) and of_incarnation(record, A.incarnation) then
  record.failures = 0
  record.windowStartedAt = nil
  record.failingEnvironments = {}
  record.recentOps = with_recent_op(record, A.opId)
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  transition: defineScript(
    'transition',
    {
      ...WRITE,
      fromState: ArgKind.STATE,
      fromGeneration: ArgKind.NUMBER,
      fromIncarnation: ArgKind.OPTIONAL_OP_ID,
      minFailures: ArgKind.OPTIONAL_NUMBER,
      minCalls: ArgKind.OPTIONAL_NUMBER,
      maxCalls: ArgKind.OPTIONAL_NUMBER,
      minSlowCalls: ArgKind.OPTIONAL_NUMBER,
      minEnvironments: ArgKind.OPTIONAL_NUMBER,
      minSuccesses: ArgKind.OPTIONAL_NUMBER,
      retryDue: ArgKind.FLAG,
      hasProbeGuard: ArgKind.FLAG,
      probeGuard: ArgKind.TEXT,
      toState: ArgKind.STATE,
      openCount: ArgKind.OPTIONAL_COUNT,
      retryInMs: ArgKind.OPTIONAL_NUMBER,
      probeToken: ArgKind.TEXT,
      leaseMs: ArgKind.OPTIONAL_NUMBER,
    },
    `
if A.toState == OPEN and (A.openCount == nil or A.retryInMs == nil) then
  error('fleet-breaker: a transition to OPEN needs openCount and retryInMs')
end
if A.toState == HALF_OPEN and A.leaseMs == nil then
  error('fleet-breaker: a transition to HALF_OPEN needs leaseMs')
end
local now = server_now()
local record, _, problem = load_record()

local function guard_holds()
  if A.minFailures ~= nil and (record.state ~= CLOSED or record.failures < A.minFailures) then return false end
  if A.minSuccesses ~= nil and (record.state ~= HALF_OPEN or record.successes < A.minSuccesses) then return false end
  -- The retry time is judged by the server's clock, the one it was set by.
  if A.retryDue and (record.state ~= OPEN or record.retryAt > now) then return false end
  -- The guards on a closed circuit's window: call volume, slow calls, distinct failing environments.
  if A.minCalls ~= nil or A.maxCalls ~= nil or A.minSlowCalls ~= nil or A.minEnvironments ~= nil then
    if record.state ~= CLOSED then return false end
    local calls = record.calls or 0
    if A.minCalls ~= nil and calls < A.minCalls then return false end
    if A.maxCalls ~= nil and calls > A.maxCalls then return false end
    if A.minSlowCalls ~= nil and (record.slowCalls or 0) < A.minSlowCalls then return false end
    if A.minEnvironments ~= nil and #record.failingEnvironments < A.minEnvironments then return false end
  end
  -- Only a probe that really holds a lease (lapsed or not) decides a half-open circuit.
  if A.hasProbeGuard and (record.state ~= HALF_OPEN or lease_slot(record, A.probeGuard) == nil) then return false end
  return true
end

local applied = false
if record.changedBy == A.opId then
  -- Applied before (a retried request): the record is still the one this write produced.
  applied = true
elseif record.state == A.fromState and record.generation == A.fromGeneration and guard_holds()
  and of_incarnation(record, A.fromIncarnation) then
  applied = true
  local to = A.toState
  -- Only the common fields and the override carry over; the new state's own fields start afresh,
  -- and so do the op ids of counting writes, which belonged to the old generation.
  local changed = {
    state = to, generation = record.generation + 1, changedAt = now, forced = record.forced,
    shadow = record.shadow, history = record.history,
    incarnation = incarnation_after(record, A.opId), changedBy = A.opId, recentOps = {},
    changes = record.changes, malformed = record.malformed, failingEnvironments = {}, probes = {},
  }
  -- Names this transition as the maker of its generation (see core's changeValue).
  changed.changes[(record.generation + 1) % MAX_RECENT_CHANGES] = format_number(record.generation + 1) .. ' ' .. A.opId
  if to == OPEN then
    changed.openCount = A.openCount
    changed.retryAt = now + A.retryInMs
  elseif to == HALF_OPEN then
    changed.openCount = record.openCount
    changed.successes = 0
    changed.probes[0] = { token = A.probeToken, expiresAt = now + A.leaseMs }
  else
    changed.openCount = 0
    changed.failures = 0
  end
  record = changed
  save(record, now)
end
return reply(now, record, problem, applied and '1' or '0')
`,
  ),

  acquireProbe: defineScript(
    'acquireProbe',
    { ...WRITE, generation: ArgKind.NUMBER, maxProbes: ArgKind.COUNT, token: ArgKind.TEXT, leaseMs: ArgKind.NUMBER },
    `
local now = server_now()
local record, _, problem = load_record()
local taken = ''
if record.state == HALF_OPEN and record.generation == A.generation then
  local held = lease_slot(record, A.token)
  if held ~= nil then
    -- Applied before (a retried request): the caller already holds this lease.
    taken = tostring(held)
  else
    -- The lowest slot that is free or whose lease has lapsed; a record has MAX_PROBE_SLOTS at most.
    local slot = 0
    while slot < A.maxProbes and slot < MAX_PROBE_SLOTS do
      local holder = record.probes[slot]
      if holder == nil or holder.expiresAt <= now then
        record.probes[slot] = { token = A.token, expiresAt = now + A.leaseMs }
        taken = tostring(slot)
        save(record, now)
        break
      end
      slot = slot + 1
    end
  end
end
return reply(now, record, problem, taken)
`,
  ),

  completeProbe: defineScript(
    'completeProbe',
    { ...WRITE, generation: ArgKind.NUMBER, token: ArgKind.TEXT, success: ArgKind.FLAG },
    `
local now = server_now()
local record, _, problem = load_record()
if record.state == HALF_OPEN and record.generation == A.generation and not has_applied(record, A.opId) then
  local released = false
  for slot = 0, MAX_PROBE_SLOTS - 1 do
    local lease = record.probes[slot]
    if lease ~= nil and lease.token == A.token then
      record.probes[slot] = nil
      released = true
    end
  end
  if released or A.success then
    if A.success then record.successes = record.successes + 1 end
    record.recentOps = with_recent_op(record, A.opId)
    save(record, now)
  end
end
return reply(now, record, problem, '')
`,
  ),

  setForced: defineScript(
    'setForced',
    {
      ...WRITE,
      ...HISTORY_ARGS,
      forcedState: ArgKind.FORCED_STATE,
      hasReason: ArgKind.FLAG,
      reason: ArgKind.TEXT,
      durationMs: ArgKind.OPTIONAL_NUMBER,
      hasActor: ArgKind.FLAG,
      actor: ArgKind.TEXT,
      hasOnlyIfActor: ArgKind.FLAG,
      onlyIfActor: ArgKind.TEXT,
      orNoOverride: ArgKind.FLAG,
    },
    `
local now = server_now()
local record, _, problem = load_record()
-- Limited to one actor's override: applies only while the record holds an override that actor set.
local by_actor = not A.hasOnlyIfActor or (record.forced ~= nil and record.forced.actor == A.onlyIfActor)
-- Or, with orNoOverride, where no override is in force (none, or one whose end has passed).
if not by_actor and A.orNoOverride then
  by_actor = record.forced == nil or (record.forced.untilAt ~= nil and record.forced.untilAt <= now)
end
if record.changedBy ~= A.opId and by_actor then
  record.incarnation = incarnation_after(record, A.opId)
  record.generation = record.generation + 1
  record.changedBy = A.opId
  record.recentOps = {}
  -- An operator's generation names no transition: the record's recentChanges start afresh.
  record.changes = {}
  if record.state == HALF_OPEN then
    -- The probes belong to the generation that ends here: their writes can no longer settle their
    -- leases, so the leases (and the successes they counted) go with it.
    record.probes = {}
    record.successes = 0
  end
  record.forced = nil
  if A.forcedState ~= nil then
    record.forced = {
      state = A.forcedState,
      since = now,
      reason = A.hasReason and A.reason or nil,
      untilAt = A.durationMs ~= nil and now + A.durationMs or nil,
      actor = A.hasActor and A.actor or nil,
    }
  end
  local until_at = nil
  if A.forcedState ~= nil and A.durationMs ~= nil then until_at = now + A.durationMs end
  append_history(record, now, until_at)
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  setShadow: defineScript(
    'setShadow',
    {
      ...WRITE,
      ...HISTORY_ARGS,
      on: ArgKind.FLAG,
      hasReason: ArgKind.FLAG,
      reason: ArgKind.TEXT,
      durationMs: ArgKind.OPTIONAL_NUMBER,
      hasActor: ArgKind.FLAG,
      actor: ArgKind.TEXT,
    },
    `
local now = server_now()
local record, _, problem = load_record()
if record.changedBy ~= A.opId then
  record.incarnation = incarnation_after(record, A.opId)
  record.generation = record.generation + 1
  record.changedBy = A.opId
  record.recentOps = {}
  -- An operator's generation names no transition: the record's recentChanges start afresh.
  record.changes = {}
  if record.state == HALF_OPEN then
    -- As for an override: the probes belong to the generation that ends here.
    record.probes = {}
    record.successes = 0
  end
  record.shadow = nil
  local until_at = nil
  if A.on then
    if A.durationMs ~= nil then until_at = now + A.durationMs end
    record.shadow = {
      since = now,
      untilAt = until_at,
      reason = A.hasReason and A.reason or nil,
      actor = A.hasActor and A.actor or nil,
    }
  end
  append_history(record, now, until_at)
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  reset: defineScript(
    'reset',
    { ...WRITE, ...HISTORY_ARGS },
    `
local now = server_now()
local record, _, problem = load_record()
if record.changedBy ~= A.opId then
  local fresh = fresh_record(record.generation + 1)
  fresh.changedAt = now
  fresh.incarnation = incarnation_after(record, A.opId)
  fresh.changedBy = A.opId
  -- The override goes; the shadow override and the history stay.
  fresh.shadow = record.shadow
  fresh.history = record.history
  fresh.malformed = record.malformed
  append_history(fresh, now, nil)
  record = fresh
  save(record, now)
end
return reply(now, record, problem, '')
`,
  ),

  clear: defineScript(
    'clear',
    {},
    `
redis.call('UNLINK', KEY)
return 1
`,
  ),
} as const

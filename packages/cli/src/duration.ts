import { UsageError } from './errors.js'

/*
 * Durations as operators type them: one or more whole numbers with a unit, largest first, e.g.
 * `30m`, `1h30m`, `90s`, `2d`, `500ms`. Deliberately strict: `5x`, `1.5h`, `-1h` and a bare `30`
 * (minutes? seconds?) are refused, so a typo during an incident never sets an override for a
 * length of time nobody meant.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const
type Unit = keyof typeof UNIT_MS
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms']
const PART = /(\d+)(ms|d|h|m|s)/y

/**
 * Parses a duration such as `30m` or `1h30m` into milliseconds; throws {@link UsageError} naming
 * `option` and the value otherwise.
 *
 * @example
 * ```ts
 * parseDuration('1h30m', '--for') // 5_400_000
 * ```
 */
export function parseDuration(value: string, option: string): number {
  const text = value.trim()
  let total = 0
  let lastUnit = -1
  PART.lastIndex = 0
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex
    const match = PART.exec(text)
    const unit = match?.[2] as Unit | undefined
    const rank = unit === undefined ? -1 : UNIT_ORDER.indexOf(unit)
    // Each unit once, largest first: `30m1h` is more likely a slip than a meaning.
    if (match === null || unit === undefined || rank <= lastUnit) {
      PART.lastIndex = start
      return invalid(value, option)
    }
    lastUnit = rank
    total += Number(match[1]) * UNIT_MS[unit]
  }
  if (text === '' || total < 1 || !Number.isSafeInteger(total)) return invalid(value, option)
  if (total > MAX_DURATION_MS) {
    throw new UsageError(`${option} must be at most ${MAX_DURATION_DAYS}d (ten years); received "${value}"`)
  }
  return total
}

/** The longest override the stores take: ten years, refused here with the option's name rather than later. */
const MAX_DURATION_DAYS = 3_650
const MAX_DURATION_MS = MAX_DURATION_DAYS * UNIT_MS.d

function invalid(value: string, option: string): never {
  throw new UsageError(`${option} must be a duration such as 30m, 1h30m, 90s or 2d; received "${value}"`)
}

/**
 * Writes `ms` as at most two units, the second zero-padded so columns keep their width as time
 * passes: `4h 05m`, `29m 59s`, `45s`, `800ms`.
 *
 * @example
 * ```ts
 * formatDuration(1_799_000) // '29m 59s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.floor(ms))}ms`
  const seconds = Math.floor(ms / 1_000)
  const [days, hours, minutes] = [
    Math.floor(seconds / 86_400),
    Math.floor(seconds / 3_600) % 24,
    Math.floor(seconds / 60) % 60,
  ]
  const pad = (n: number) => String(n).padStart(2, '0')
  if (days > 0) return `${days}d ${pad(hours)}h`
  if (hours > 0) return `${hours}h ${pad(minutes)}m`
  if (minutes > 0) return `${minutes}m ${pad(seconds % 60)}s`
  return `${seconds}s`
}

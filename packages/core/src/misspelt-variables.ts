import type { Logger } from './logger.js'

/*
 * A misspelt `CIRCUIT_BREAKER_*` variable is otherwise silently ignored: the breaker runs on a
 * default the operator believes they changed. Each package that reads variables registers their
 * names; a variable of the environment with the prefix that is not registered but is within a few
 * edits of a registered one is reported once per process, naming the variable it most likely
 * meant. Variables far from every known name (another tool's, a newer package's) are left alone.
 */

const PREFIX = 'CIRCUIT_BREAKER_'

/** Registered names, or functions giving them when a check runs (for module constants declared later). */
const registered: Array<Iterable<string> | (() => Iterable<string>)> = []
const reported = new Set<string>()

function knownNames(): Set<string> {
  return new Set(registered.flatMap((names) => [...(typeof names === 'function' ? names() : names)]))
}

/**
 * Declares variables a package reads, so that they are never reported and their misspellings are.
 * A function is called each time variables are checked.
 *
 * @example
 * ```ts
 * registerEnvironmentVariables(['CIRCUIT_BREAKER_TABLE', 'CIRCUIT_BREAKER_REDIS_URL'])
 * ```
 */
export function registerEnvironmentVariables(names: Iterable<string> | (() => Iterable<string>)): void {
  registered.push(typeof names === 'function' ? names : [...names])
}

/**
 * The Levenshtein distance between two strings (insertions, deletions and substitutions), in
 * O(a × b) time and O(b) memory: variable names are short.
 *
 * @example
 * ```ts
 * editDistance('CIRCUIT_BREAKER_TABEL', 'CIRCUIT_BREAKER_TABLE') // 2
 * ```
 */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/** How many edits still read as a misspelling of a name of this length (the part after the prefix). */
function tolerance(name: string): number {
  return Math.max(3, Math.floor((name.length - PREFIX.length) / 6))
}

/**
 * The registered variable `name` most likely misspells, or `undefined` when it is registered or
 * too far from every registered name.
 *
 * @example
 * ```ts
 * closestKnownVariable('CIRCUIT_BREAKER_FAILURE_TRESHOLD') // 'CIRCUIT_BREAKER_FAILURE_THRESHOLD'
 * ```
 */
export function closestKnownVariable(name: string, extra: Iterable<string> = []): string | undefined {
  const candidates = new Set([...knownNames(), ...extra])
  if (candidates.has(name)) return undefined
  let best: { name: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate)
    if (best === undefined || distance < best.distance) best = { name: candidate, distance }
  }
  return best !== undefined && best.distance <= tolerance(name) ? best.name : undefined
}

/**
 * Warns, once per process and variable, about each `CIRCUIT_BREAKER_*` variable of `env` that
 * looks like a misspelling of a registered one (`extra` names count as registered too).
 *
 * @example
 * ```ts
 * warnAboutMisspeltVariables(process.env, logger)
 * // warn: fleet-breaker: CIRCUIT_BREAKER_FAILURE_TRESHOLD is not a variable fleet-breaker reads; did you mean CIRCUIT_BREAKER_FAILURE_THRESHOLD?
 * ```
 */
export function warnAboutMisspeltVariables(
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  extra: Iterable<string> = [],
): void {
  const extraNames = [...extra]
  for (const name of Object.keys(env)) {
    if (!name.startsWith(PREFIX) || reported.has(name)) continue
    const closest = closestKnownVariable(name, extraNames)
    if (closest === undefined) continue
    reported.add(name)
    try {
      logger.warn(`fleet-breaker: ${name} is not a variable fleet-breaker reads; did you mean ${closest}?`, {
        variable: name,
        didYouMean: closest,
      })
    } catch {
      // A logger that throws must not stop a breaker from being created.
    }
  }
}

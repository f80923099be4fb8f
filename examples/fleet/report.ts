import type { FleetComparison } from './compare.js'
import { afterSeconds, plural } from './format.js'
import type { FleetResult } from './measure.js'

const LABEL_WIDTH = 54
const COLUMN_WIDTH = 23

interface Row {
  readonly label: string
  readonly value: (result: FleetResult) => string
}

const ROWS: readonly Row[] = [
  { label: 'invocations', value: (result) => String(result.invocations.total) },
  { label: 'calls that reached the failing downstream', value: (result) => String(result.outage.downstreamCalls) },
  // The first is the timeline's first "circuit OPEN" of the outage; the second, when the last
  // environment still calling the failing downstream stopped (probes apart).
  {
    label: 'circuit first opened (after outage start)',
    value: (result) => (result.outage.firstOpenMs === undefined ? 'never' : afterSeconds(result.outage.firstOpenMs)),
  },
  {
    label: 'whole fleet stopped calling (after outage start)',
    value: (result) => (result.outage.fleetOpenMs === undefined ? 'never' : afterSeconds(result.outage.fleetOpenMs)),
  },
  { label: 'probes sent during recovery', value: (result) => String(result.recovery.probes) },
  { label: 'closed again (after recovery)', value: closedAgain },
  { label: 'state transitions (one alert each)', value: (result) => String(localTransitions(result)) },
  // Summed over the fleet's environments, as CloudWatch sums the metric (an alarm on it fires per opening).
  { label: 'CircuitOpened metric, fleet total', value: (result) => metricTotal(result, 'CircuitOpened') },
  { label: 'CircuitClosed metric, fleet total', value: (result) => metricTotal(result, 'CircuitClosed') },
  {
    label: 'store reads / writes per invocation',
    value: (result) =>
      result.store === undefined
        ? 'none (in memory)'
        : `${result.store.readsPerInvocation.toFixed(3)} / ${result.store.writesPerInvocation.toFixed(3)}`,
  },
]

/**
 * The side-by-side table of the two runs, at most 100 characters wide.
 *
 * @example
 * ```ts
 * console.log(comparisonTable(await compareFleetBreakers()))
 * ```
 */
export function comparisonTable(comparison: FleetComparison): string {
  const results = [comparison.shared, comparison.perEnvironment]
  const header = ''.padEnd(LABEL_WIDTH) + results.map((result) => result.strategy.padStart(COLUMN_WIDTH)).join('')
  const rule = '-'.repeat(LABEL_WIDTH + COLUMN_WIDTH * results.length)
  const rows = ROWS.map(
    (row) => row.label.padEnd(LABEL_WIDTH) + results.map((result) => row.value(result).padStart(COLUMN_WIDTH)).join(''),
  )
  return [header, rule, ...rows].join('\n')
}

/**
 * What the table means, in a few sentences wrapped at `width`.
 *
 * @example
 * ```ts
 * console.log(interpretation(comparison))
 * ```
 */
export function interpretation(comparison: FleetComparison, width = 100): string {
  const { shared, perEnvironment } = comparison
  const environments = shared.environments
  const threshold = shared.settings.failureThreshold
  const sharedCalls = shared.outage.downstreamCalls
  const ownCalls = perEnvironment.outage.downstreamCalls
  const sentences: string[] = []
  if (ownCalls > sharedCalls) {
    const ratio = sharedCalls === 0 ? '' : ` (${(ownCalls / sharedCalls).toFixed(1)} times as many)`
    sentences.push(
      `During the outage the shared breaker let ${plural(sharedCalls, 'call')} through to the failing service; ` +
        `per-environment breakers let ${ownCalls} through${ratio}, because each of the ` +
        `${plural(environments, 'environment')} had to count ${threshold} failures of its own before it stopped.`,
    )
  } else {
    sentences.push(
      `During the outage both let about as many calls through (${sharedCalls} and ${ownCalls}): with ` +
        `${plural(environments, 'environment')} there is little to share; try more with --envs.`,
    )
  }
  if (shared.settings.cacheTtlMs === 0) {
    sentences.push(
      'With the shared state the failures of the whole fleet count towards one threshold, and with ' +
        'no cache every invocation reads the store, so the fleet stops calling as soon as the circuit opens.',
    )
  } else {
    sentences.push(
      `With the shared state the failures of the whole fleet count towards one threshold; an environment ` +
        `trusting the CLOSED state it cached makes at most one more call before it learns the circuit is ` +
        `open (at most ${threshold} + ${environments} calls, probes apart). --cache-ttl 0 trades a store ` +
        'read per invocation for stopping sooner.',
    )
  }
  sentences.push(
    `After recovery the shared breaker sent ${plural(shared.recovery.probes, 'probe')} for the whole fleet, ` +
      `the per-environment breakers ${perEnvironment.recovery.probes}.`,
  )
  sentences.push(
    `The shared circuit changed state ${plural(localTransitions(shared), 'time')} in all ` +
      `(${plural(localTransitions(shared), 'alert')}), the per-environment circuits ` +
      `${plural(localTransitions(perEnvironment), 'time')}.`,
  )
  return wrap(sentences.join(' '), width)
}

/**
 * Notes on anything that makes the numbers less than they seem: warnings the breakers logged,
 * and a store that is the bottleneck at this scale.
 *
 * @example
 * ```ts
 * for (const note of caveats(comparison)) console.log(note)
 * ```
 */
export function caveats(comparison: FleetComparison, width = 100): string[] {
  const notes: string[] = []
  for (const result of [comparison.shared, comparison.perEnvironment]) {
    for (const warning of result.warnings) {
      notes.push(wrap(`note: ${result.strategy} logged ${plural(warning.count, 'time')}: ${warning.message}`, width))
    }
  }
  if (comparison.store === 'dynamodb' && comparison.shared.environments > 50) {
    notes.push(
      wrap(
        'note: the embedded dynalite applies the writes to the circuit one at a time, so at this scale its ' +
          'queue, not DynamoDB, sets the timings of the shared breaker; --store redis is closer to a real store.',
        width,
      ),
    )
  }
  return notes
}

function closedAgain(result: FleetResult): string {
  const { firstClosedMs, lastClosedMs } = result.recovery
  if (firstClosedMs === undefined || lastClosedMs === undefined) return 'not yet'
  const first = afterSeconds(firstClosedMs)
  return lastClosedMs - firstClosedMs < 10 ? first : `${first.replace(/ s$/, '')} to ${afterSeconds(lastClosedMs)}`
}

function metricTotal(result: FleetResult, name: string): string {
  return `${result.metrics?.[name] ?? 0} over ${result.environments} env.`
}

function localTransitions(result: FleetResult): number {
  return Object.values(result.transitions.local).reduce((sum, count) => sum + count, 0)
}

function wrap(text: string, width: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines.join('\n')
}

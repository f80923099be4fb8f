import { CircuitState } from '@fleet-breaker/core'
import Table from 'cli-table3'
import picocolors from 'picocolors'
import type { CircuitStatus, HistoryEntry, OverrideView } from './control.js'
import { formatDuration } from './duration.js'

/** The colour functions the formatters use; all identity functions when colour is off. */
export type Colors = ReturnType<typeof picocolors.createColors>

/**
 * Colour only on a terminal, as `gh` and the AWS CLI do, and never when `NO_COLOR` is set
 * (https://no-color.org); `FORCE_COLOR` turns it on for a pipe.
 *
 * @example
 * ```ts
 * const colors = colorsFor(process.stdout)
 * ```
 */
export function colorsFor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== ''
  const force = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false'
  return picocolors.createColors(!noColor && (force || stream.isTTY === true))
}

/** `2026-12-02T15:12:03Z`: one fixed width, UTC, as AWS tools print times. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The state, coloured: red open, yellow half-open, green closed. */
export function paintState(state: CircuitState, colors: Colors): string {
  if (state === CircuitState.OPEN) return colors.red(state)
  if (state === CircuitState.HALF_OPEN) return colors.yellow(state)
  return colors.green(state)
}

/** `OPEN for 29m 59s by alice`, `CLOSED until cleared`. */
export function describeOverride(override: OverrideView, now: number): string {
  const lasting = override.until === undefined ? 'until cleared' : `for ${formatDuration(override.until - now)}`
  return `${override.state} ${lasting}${override.actor === undefined ? '' : ` by ${override.actor}`}`
}

const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
}

/** A borderless table in the style of `kubectl get`, without trailing spaces. */
export function table(head: readonly string[], rows: readonly (readonly string[])[], colors: Colors): string {
  const rendered = new Table({
    head: head.map((title) => colors.bold(title)),
    chars: BORDERLESS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  })
  rendered.push(...rows.map((row) => [...row]))
  return rendered
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
}

const REASON_WIDTH = 48

/** The later of the last transition and the last operator action: what changed last. */
function lastChange(status: CircuitStatus): string {
  const at = Math.max(status.changedAt, status.lastAction?.at ?? 0)
  return at === 0 ? '-' : isoTime(at)
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

function retryCell(status: CircuitStatus): string {
  if (status.state !== CircuitState.OPEN) return '-'
  return status.retryInMs === undefined ? 'cleared' : formatDuration(status.retryInMs)
}

/**
 * The circuits as a table: one row each. Rows of `highlight` are shown inverted (the circuits that
 * just changed, in `watch`).
 */
export function circuitTable(
  statuses: readonly CircuitStatus[],
  now: number,
  colors: Colors,
  highlight: ReadonlySet<string> = new Set(),
): string {
  const head = ['CIRCUIT', 'STATE', 'FAILURES', 'RETRY IN', 'PROBES', 'OVERRIDE', 'SHADOW', 'LAST CHANGE', 'REASON']
  const rows = statuses.map((status) => {
    const row = [
      status.circuitId,
      paintState(status.state, colors),
      String(status.failures),
      retryCell(status),
      String(status.probesInFlight),
      status.override === undefined ? '-' : describeOverride(status.override, now),
      status.shadow ? colors.magenta('on') : 'off',
      lastChange(status),
      shorten(status.override?.reason ?? '', REASON_WIDTH),
    ]
    return highlight.has(status.circuitId) ? row.map((cell) => colors.inverse(colors.bold(cell))) : row
  })
  return table(head, rows, colors)
}

/** One circuit in detail, field per line, as `status` prints it. */
export function statusBlock(status: CircuitStatus, now: number, colors: Colors): string {
  const fields: [string, string][] = []
  const automatic = status.override === undefined ? '' : ` (overridden; automatic state ${status.automaticState})`
  fields.push(['state', `${paintState(status.state, colors)}${automatic}`])
  fields.push(['failures', String(status.failures)])
  fields.push(['retry in', retryCell(status)])
  fields.push(['probes in flight', String(status.probesInFlight)])
  const override = status.override
  if (override === undefined) fields.push(['override', 'none'])
  else {
    fields.push(['override', describeOverride(override, now)])
    fields.push(['  reason', override.reason ?? '-'])
    fields.push(['  actor', override.actor ?? '-'])
    fields.push(['  since', isoTime(override.since)])
    fields.push(['  until', override.until === undefined ? 'cleared' : isoTime(override.until)])
  }
  const shadow = status.shadowOverride
  if (shadow !== undefined) {
    const lasting = shadow.until === undefined ? 'until switched off' : `for ${formatDuration(shadow.until - now)}`
    fields.push([
      'shadow',
      `${colors.magenta('on')} ${lasting}${shadow.actor === undefined ? '' : ` by ${shadow.actor}`}`,
    ])
    if (shadow.reason !== undefined) fields.push(['  reason', shadow.reason])
  } else fields.push(['shadow', status.shadow ? colors.magenta('on (breaker option)') : 'off'])
  fields.push(['last transition', status.changedAt === 0 ? 'never' : isoTime(status.changedAt)])
  const last = status.lastAction
  if (last !== undefined) {
    fields.push(['last action', `${last.action} by ${last.actor ?? 'unknown'} at ${isoTime(last.at)}`])
  }
  const width = Math.max(...fields.map(([name]) => name.length))
  return [colors.bold(status.circuitId), ...fields.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`)].join(
    '\n',
  )
}

/** The JSON form of a status: times as ISO 8601 strings, absent values as null. */
export function statusJson(status: CircuitStatus): Record<string, unknown> {
  const { override } = status
  return {
    circuitId: status.circuitId,
    state: status.state,
    automaticState: status.automaticState,
    failures: status.failures,
    retryInMs: status.retryInMs ?? null,
    probesInFlight: status.probesInFlight,
    override:
      override === undefined
        ? null
        : {
            state: override.state,
            reason: override.reason ?? null,
            actor: override.actor ?? null,
            since: isoTime(override.since),
            until: override.until === undefined ? null : isoTime(override.until),
          },
    shadow: status.shadow,
    shadowOverride:
      status.shadowOverride === undefined
        ? null
        : {
            reason: status.shadowOverride.reason ?? null,
            actor: status.shadowOverride.actor ?? null,
            since: isoTime(status.shadowOverride.since),
            until: status.shadowOverride.until === undefined ? null : isoTime(status.shadowOverride.until),
          },
    lastTransitionAt: status.changedAt === 0 ? null : isoTime(status.changedAt),
    lastAction: status.lastAction === undefined ? null : historyJson(status.lastAction),
  }
}

/** The audit history as a table, newest first. */
export function historyTable(entries: readonly HistoryEntry[], colors: Colors): string {
  const rows = entries.map((entry) => [
    isoTime(entry.at),
    entry.action,
    entry.actor ?? '-',
    entry.until === undefined ? '-' : isoTime(entry.until),
    entry.reason ?? '',
  ])
  return table(['AT', 'ACTION', 'ACTOR', 'UNTIL', 'REASON'], rows, colors)
}

/** The JSON form of a history entry. */
export function historyJson(entry: HistoryEntry): Record<string, unknown> {
  return {
    at: isoTime(entry.at),
    action: entry.action,
    actor: entry.actor ?? null,
    reason: entry.reason ?? null,
    until: entry.until === undefined ? null : isoTime(entry.until),
  }
}

/** Prints `value` as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Prints `text` and a newline on stdout. */
export function printLine(text: string): void {
  process.stdout.write(`${text}\n`)
}

import type { Command } from 'commander'
import { dropWarnings, flushWarnings, storeProblem } from '../connection.js'
import { type CommandContext, checkCircuitIds, type GlobalOptions, withControl } from '../context.js'
import type { CircuitStatus } from '../control.js'
import { formatDuration, parseDuration } from '../duration.js'
import { isCliError, UsageError } from '../errors.js'
import { circuitTable, describeOverride, isoTime, printLine, statusJson } from '../output.js'
import { CommandTimeoutError } from '../timeout.js'
import { listAll } from './list.js'

interface WatchOptions {
  readonly interval: string
}

/** A change seen between two reads. */
interface Transition {
  readonly at: number
  readonly from: CircuitStatus | undefined
  readonly to: CircuitStatus
}

const MIN_INTERVAL_MS = 250
/** How long a changed row stays highlighted on a terminal. */
const HIGHLIGHT_MS = 10_000
/** Transitions listed under the table on a terminal. */
const RECENT_TRANSITIONS = 10

/** What a read is compared on: anything an operator would call a change. */
function fingerprint(status: CircuitStatus): string {
  const { override } = status
  return JSON.stringify([
    status.state,
    status.automaticState,
    status.changedAt,
    override?.state,
    override?.since,
    override?.until,
    status.shadow,
  ])
}

/** What changed, in words: `CLOSED -> OPEN (override OPEN for 29m 59s by alice: outage)`. */
export function describeTransition(transition: Transition, now: number): string {
  const { from, to } = transition
  const override =
    to.override === undefined
      ? ''
      : ` (override ${describeOverride(to.override, now)}${to.override.reason === undefined ? '' : `: ${to.override.reason}`})`
  if (from === undefined) return `${to.state}${override}`
  if (from.state !== to.state) return `${from.state} -> ${to.state}${override}`
  if (fingerprintOfOverride(from) !== fingerprintOfOverride(to)) {
    return to.override === undefined ? `${to.state}, override cleared` : `${to.state}${override}`
  }
  if (from.shadow !== to.shadow) return `${to.state}, shadow mode ${to.shadow === true ? 'on' : 'off'}`
  return `${to.state}, automatic state ${from.automaticState} -> ${to.automaticState}`
}

function fingerprintOfOverride(status: CircuitStatus): string {
  return JSON.stringify([status.override?.state, status.override?.since, status.override?.until])
}

/** How a watch shows what it reads. */
interface WatchView {
  show(statuses: readonly CircuitStatus[], transitions: readonly Transition[], first: boolean): void
  problem(message: string): void
  end(): void
}

type LogUpdate = typeof import('log-update').default

/** On a terminal: a table redrawn in place, changed rows highlighted, the recent transitions below. */
class LiveTable implements WatchView {
  readonly #context: CommandContext
  readonly #draw: LogUpdate
  readonly #header: string
  readonly #recent: Transition[] = []
  readonly #changedAt = new Map<string, number>()
  #problem: string | undefined
  #statuses: readonly CircuitStatus[] = []

  constructor(context: CommandContext, header: string, draw: LogUpdate) {
    this.#context = context
    this.#draw = draw
    this.#header = header
  }

  show(statuses: readonly CircuitStatus[], transitions: readonly Transition[], first: boolean): void {
    this.#problem = undefined
    if (!first) {
      for (const transition of transitions) {
        this.#changedAt.set(transition.to.circuitId, transition.at)
        this.#recent.unshift(transition)
      }
      this.#recent.splice(RECENT_TRANSITIONS)
    }
    this.#render(statuses)
  }

  #render(statuses: readonly CircuitStatus[] = this.#statuses): void {
    this.#statuses = statuses
    const { colors } = this.#context
    const now = this.#context.now()
    const highlight = new Set(
      [...this.#changedAt].filter(([, at]) => now - at < HIGHLIGHT_MS).map(([circuitId]) => circuitId),
    )
    const lines = [this.#header, colors.dim(`Updated ${isoTime(now)}. Ctrl-C to stop.`), '']
    lines.push(statuses.length === 0 ? 'No circuits yet.' : circuitTable(statuses, now, colors, highlight))
    if (this.#problem !== undefined) lines.push('', colors.red(`${this.#problem} (retrying)`))
    if (this.#recent.length > 0) {
      lines.push('', colors.bold('Transitions'))
      for (const transition of this.#recent) {
        const text = `${isoTime(transition.at)}  ${transition.to.circuitId}  ${describeTransition(transition, now)}`
        lines.push(highlight.has(transition.to.circuitId) ? colors.yellow(text) : text)
      }
    }
    this.#draw(lines.join('\n'))
  }

  problem(message: string): void {
    this.#problem = message
    this.#render()
  }

  end(): void {
    this.#draw.done()
  }
}

/** Not on a terminal: a line per circuit to begin with, then a line per change. */
class LineLog implements WatchView {
  readonly #context: CommandContext
  #failing = false

  constructor(context: CommandContext) {
    this.#context = context
  }

  show(statuses: readonly CircuitStatus[], transitions: readonly Transition[], first: boolean): void {
    if (this.#failing) process.stderr.write('watch: the store answers again\n')
    this.#failing = false
    const now = this.#context.now()
    const shown: readonly Transition[] = first ? statuses.map((to) => ({ at: now, from: undefined, to })) : transitions
    for (const transition of shown) {
      const { to, from } = transition
      if (this.#context.json) {
        printLine(
          JSON.stringify({
            at: isoTime(transition.at),
            event: first ? 'initial' : 'change',
            circuitId: to.circuitId,
            from: from?.state ?? null,
            to: to.state,
            status: statusJson(to),
          }),
        )
      } else {
        printLine(`${isoTime(transition.at)}  ${to.circuitId}  ${describeTransition(transition, now)}`)
      }
    }
  }

  problem(message: string): void {
    if (!this.#failing) process.stderr.write(`warning: ${message} (retrying)\n`)
    this.#failing = true
  }

  end(): void {}
}

/** Resolves `sleep()` early, and sets `stopped`, on Ctrl-C or SIGTERM. */
function stopper() {
  let wake: (() => void) | undefined
  const state = { stopped: false }
  const stop = () => {
    state.stopped = true
    wake?.()
  }
  // `on`, not `once`: the terminal library restores the cursor on signals and re-raises one
  // nobody else still listens to, which would end the process by the signal instead of with 0.
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  return {
    get stopped() {
      return state.stopped
    },
    sleep(ms: number): Promise<void> {
      if (state.stopped) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    },
    dispose() {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    },
  }
}

/** `fleet-breaker watch [<id…>]`: follow circuits live until Ctrl-C. */
export function watchCommand(program: Command): void {
  program
    .command('watch')
    .description(
      'follow circuits live (all of them without ids): a refreshing table on a terminal, a line per change otherwise',
    )
    .argument('[id...]', 'circuit ids (default: every circuit in the store)')
    .option('--interval <duration>', 'how often to read the store', '2s')
    .action(async (ids: string[], options: WatchOptions, self: Command) => {
      const circuitIds = checkCircuitIds(ids)
      const intervalMs = parseDuration(options.interval, '--interval')
      if (intervalMs < MIN_INTERVAL_MS) {
        throw new UsageError(`--interval must be at least ${MIN_INTERVAL_MS}ms; received "${options.interval}"`)
      }
      await withControl(
        self.optsWithGlobals<GlobalOptions>(),
        async (context) => {
          const read = async (): Promise<CircuitStatus[]> => {
            if (circuitIds.length === 0) return listAll(context.control)
            // A circuit the store holds nothing for reads as a fresh closed one: watching it is how a rollout starts.
            return context.control.status(circuitIds)
          }
          const what = circuitIds.length === 0 ? 'every circuit' : `${circuitIds.length} circuit(s)`
          const header = `Watching ${what} in ${context.connection.target} every ${formatDuration(intervalMs)}.`
          // Loaded only for a terminal (and so from the CommonJS build too: it is an ES module).
          const view: WatchView =
            process.stdout.isTTY === true && !context.json
              ? new LiveTable(context, header, (await import('log-update')).default)
              : new LineLog(context)
          const stop = stopper()
          let previous: Map<string, CircuitStatus> | undefined
          try {
            while (!stop.stopped) {
              try {
                // `--timeout` bounds each refresh: a slow one is reported and the next one tried.
                const statuses = await context.bounded(read)
                const at = context.now()
                const transitions = statuses
                  .filter((status) => {
                    const before = previous?.get(status.circuitId)
                    return before === undefined || fingerprint(before) !== fingerprint(status)
                  })
                  .map((to) => ({ at, from: previous?.get(to.circuitId), to }))
                view.show(statuses, transitions, previous === undefined)
                flushWarnings()
                previous = new Map(statuses.map((status) => [status.circuitId, status]))
              } catch (error) {
                // The first read decides whether the command can work at all; later ones ride out blips.
                const timedOut = error instanceof CommandTimeoutError
                if (previous === undefined || (isCliError(error) && !timedOut)) throw error
                dropWarnings()
                view.problem(timedOut ? error.message : storeProblem(error, context.connection).message)
              }
              await stop.sleep(intervalMs)
            }
          } finally {
            stop.dispose()
            view.end()
          }
        },
        'step',
      )
    })
}

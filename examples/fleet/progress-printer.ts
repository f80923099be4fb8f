import { afterSeconds, plural, seconds } from './format.js'
import { transitionKind } from './measure.js'
import type { Phase } from './options.js'
import type { TransitionRecord } from './records.js'
import type { FleetProgress } from './simulator.js'

const PHASE_LINES: Readonly<Record<Phase, string>> = {
  healthy: 'downstream answers 200',
  outage: 'downstream fails: every request gets a 503',
  recovered: 'downstream answers 200 again',
}

/** How a transition reads, by kind. */
const TRANSITION_WORDS: Readonly<Record<string, string>> = {
  'CLOSED->OPEN': 'circuit OPEN',
  'OPEN->HALF_OPEN': 'circuit HALF_OPEN: a probe goes out',
  'HALF_OPEN->OPEN': 'probe failed: circuit OPEN again',
  'HALF_OPEN->CLOSED': 'probe succeeded: circuit CLOSED',
}

const PHASE_COLUMN = 11
const TIME_INDENT = ' '.repeat(2 + PHASE_COLUMN + 2)
/** Width of a time as `afterSeconds` writes it within a phase, e.g. `+1.25 s`. */
const TIME_WIDTH = afterSeconds(0).length

interface KindTally {
  count: number
  lastMs: number
  readonly environments: Set<number>
}

/**
 * Turns a run's progress into lines: one per phase, the first state change of each kind in a
 * phase as it happens (its time since the phase began, so times read in order down the column),
 * and, when the phase ends, how many more of that kind there were (with a breaker per
 * environment, every environment makes its own). Only changes an environment made
 * itself (`origin: 'local'`) are shown: one line per alert the fleet would raise.
 *
 * @example
 * ```ts
 * const printer = new ProgressPrinter(console.log)
 * await compareFleetBreakers({ onProgress: (progress) => printer.handle(progress) })
 * ```
 */
export class ProgressPrinter {
  readonly #write: (line: string) => void
  #runs = 0
  #tallies = new Map<string, KindTally>()

  constructor(write: (line: string) => void) {
    this.#write = write
  }

  handle(progress: FleetProgress): void {
    switch (progress.type) {
      case 'start':
        this.#runs++
        this.#write('')
        this.#write(`[run ${this.#runs}] ${progress.description}`)
        return
      case 'phase':
        this.#flush()
        this.#write(`  ${progress.phase.padEnd(PHASE_COLUMN)}${PHASE_LINES[progress.phase]}`)
        return
      case 'transition':
        if (progress.transition.origin === 'local') this.#transition(progress.transition, progress.sincePhaseMs)
        return
      case 'finish': {
        this.#flush()
        const { invocations, rejected, downstreamCalls } = progress.totals
        // Rounded to a tenth: the run's length is the schedule's, the hundredths are timer noise.
        this.#write(
          `  done in ${seconds(Math.round(progress.atMs / 100) * 100)}: ${plural(invocations, 'invocation')}, ` +
            `${downstreamCalls} reached the downstream, ${rejected} turned away by the breaker`,
        )
      }
    }
  }

  #transition(transition: TransitionRecord, sincePhaseMs: number): void {
    const kind = transitionKind(transition)
    const tally = this.#tallies.get(kind)
    if (tally !== undefined) {
      tally.count++
      tally.lastMs = sincePhaseMs
      tally.environments.add(transition.environment)
      return
    }
    this.#tallies.set(kind, { count: 1, lastMs: sincePhaseMs, environments: new Set([transition.environment]) })
    const words = TRANSITION_WORDS[kind] ?? kind
    this.#write(
      `${TIME_INDENT}${afterSeconds(sincePhaseMs)}  ${words} (env ${transition.environment}, ${transition.reason})`,
    )
  }

  /**
   * Says how many more changes of each kind the phase had than the one shown. These lines come
   * when the phase ends, so they leave the time column empty (it reads in order, top to bottom)
   * and name the time of the kind's last change in words.
   */
  #flush(): void {
    for (const [kind, tally] of this.#tallies) {
      if (tally.count < 2) continue
      const where = plural(tally.environments.size, 'environment')
      this.#write(
        `${TIME_INDENT}${' '.repeat(TIME_WIDTH)}  ${tally.count - 1} more ${kind} (${where} in all), ` +
          `the last at ${afterSeconds(tally.lastMs)}`,
      )
    }
    this.#tallies = new Map()
  }
}

import { createInterface } from 'node:readline/promises'
import { CliError, UsageError } from './errors.js'

/** What a change to several circuits at once is called in its question and its refusal. */
export interface ManyCircuitsChange {
  /** The verb in the question, capitalised: "Reset", "Force open". */
  readonly verb: string
  /** The verb as a gerund for the refusal: "resetting", "forcing open". */
  readonly doing: string
  /** What the operator should know before saying yes. */
  readonly consequence: string
}

/**
 * Asks on the terminal before a change reaches several circuits at once, unless `--yes` was given.
 * Without a terminal to ask on, `--yes` is required: a script must say it means it.
 */
export async function confirmMany(
  ids: readonly string[],
  yes: boolean | undefined,
  change: ManyCircuitsChange,
): Promise<void> {
  if (ids.length < 2 || yes === true) return
  if (process.stdin.isTTY !== true) {
    throw new UsageError(
      `${change.doing} ${ids.length} circuits needs confirmation: pass --yes (stdin is not a terminal)`,
    )
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await prompt.question(
      `${change.verb} ${ids.length} circuits (${ids.join(', ')})? ${change.consequence} [y/N] `,
    )
    if (!/^y(es)?$/i.test(answer.trim())) {
      throw new CliError(`${change.doing} cancelled: nothing was changed`)
    }
  } finally {
    prompt.close()
  }
}

/** The `-y, --yes` option's help text. */
export const YES_HELP = 'change several circuits without asking'

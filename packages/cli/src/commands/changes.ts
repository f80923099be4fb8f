import { resolveActor } from '../actor.js'
import { type CommandContext, requireKnown } from '../context.js'
import type { CircuitStatus } from '../control.js'
import { UsageError } from '../errors.js'
import { describeOverride, paintState, printJson, printLine, statusJson } from '../output.js'

/** Options every change accepts. */
export interface ChangeOptions {
  readonly actor?: string
  readonly reason?: string
}

/** `--reason` is at most this long, as the breaker requires. */
export const MAX_REASON_LENGTH = 1_024

/** The reason without surrounding blanks; a blank one is none. Too long is a usage error. */
export function checkReason(reason: string | undefined): string | undefined {
  const text = reason?.trim()
  if (text === undefined || text === '') return undefined
  if (text.length > MAX_REASON_LENGTH) {
    throw new UsageError(`--reason must be at most ${MAX_REASON_LENGTH} characters; received ${text.length}`)
  }
  return text
}

/**
 * Applies `change` to each circuit, one after another (an operator reads the output in order),
 * after checking the store holds them all, unless `create` allows new ones.
 */
export async function applyToEach(
  context: CommandContext,
  ids: readonly string[],
  options: { readonly actor?: string; readonly create?: boolean },
  change: (circuitId: string, actor: string) => Promise<CircuitStatus>,
): Promise<CircuitStatus[]> {
  if (options.create !== true) {
    await requireKnown(
      context,
      ids,
      'check the id (fleet-breaker list), or pass --create for a circuit the store holds nothing for yet',
    )
  }
  const actor = await resolveActor(options.actor)
  const results: CircuitStatus[] = []
  for (const id of ids) results.push(await change(id, actor))
  return results
}

/** Prints what the changes produced: a line per circuit, or the statuses as JSON. */
export function printChanges(context: CommandContext, verb: string, statuses: readonly CircuitStatus[]): void {
  if (context.json) {
    printJson(statuses.map(statusJson))
    return
  }
  const now = context.now()
  for (const status of statuses) {
    const override =
      status.override === undefined ? 'no override' : `override ${describeOverride(status.override, now)}`
    const reason = status.override?.reason === undefined ? '' : `: ${status.override.reason}`
    printLine(`${verb} ${status.circuitId}: now ${paintState(status.state, context.colors)}, ${override}${reason}`)
  }
}

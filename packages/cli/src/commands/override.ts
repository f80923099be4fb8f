import type { Command } from 'commander'
import { confirmMany, YES_HELP } from '../confirm.js'
import { checkCircuitIds, type GlobalOptions, withControl } from '../context.js'
import { parseDuration } from '../duration.js'
import { UsageError } from '../errors.js'
import { applyToEach, type ChangeOptions, checkReason, printChanges } from './changes.js'

interface OverrideOptions extends ChangeOptions {
  readonly for?: string
  readonly create?: boolean
  readonly yes?: boolean
}

function overrideCommand(program: Command, name: 'open' | 'close'): void {
  const opening = name === 'open'
  const command = program
    .command(name)
    .description(
      opening
        ? 'force circuits open for the whole fleet: every call is rejected until cleared or --for lapses'
        : 'force circuits closed for the whole fleet: every call goes through, nothing is counted',
    )
    .argument('<id...>', 'circuit ids')
  if (opening)
    command.requiredOption('--reason <text>', 'why (shown to callers in CircuitOpenError and in the history)')
  else command.option('--reason <text>', 'why (shown in the history)')
  command
    .option('--for <duration>', 'lapse on its own after this long, e.g. 30m, 1h30m, 2d (default: until cleared)')
    .option('--actor <name>', 'who makes the change (default: the AWS caller identity, else the OS user)')
    .option('--create', 'also set it on circuits the store holds nothing for yet')
    .option('-y, --yes', YES_HELP)
    .action(async (ids: string[], options: OverrideOptions, self: Command) => {
      const circuitIds = checkCircuitIds(ids)
      const durationMs = options.for === undefined ? undefined : parseDuration(options.for, '--for')
      const reason = checkReason(options.reason)
      if (opening && reason === undefined) throw new UsageError('--reason must say why the circuit is forced open')
      await confirmMany(
        circuitIds,
        options.yes,
        opening
          ? { verb: 'Force open', doing: 'forcing open', consequence: 'Every call to them is rejected fleet-wide.' }
          : {
              verb: 'Force closed',
              doing: 'forcing closed',
              consequence: 'Every call goes through, nothing is counted.',
            },
      )
      await withControl(self.optsWithGlobals<GlobalOptions>(), async (context) => {
        const change = {
          ...(reason === undefined ? {} : { reason }),
          ...(durationMs === undefined ? {} : { durationMs }),
        }
        const statuses = await applyToEach(context, circuitIds, options, (id, actor) =>
          opening
            ? context.control.forceOpen(id, { ...change, actor })
            : context.control.forceClose(id, { ...change, actor }),
        )
        printChanges(context, opening ? 'Forced open' : 'Forced closed', statuses)
      })
    })
}

/** `fleet-breaker open <id…> --reason "…" [--for 30m]`. */
export function openCommand(program: Command): void {
  overrideCommand(program, 'open')
}

/** `fleet-breaker close <id…> [--reason "…"] [--for 30m]`. */
export function closeCommand(program: Command): void {
  overrideCommand(program, 'close')
}

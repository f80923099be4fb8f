import type { Command } from 'commander'
import { confirmMany, YES_HELP } from '../confirm.js'
import { checkCircuitIds, type GlobalOptions, withControl } from '../context.js'
import { applyToEach, type ChangeOptions, checkReason, printChanges } from './changes.js'

interface ResetOptions extends ChangeOptions {
  readonly yes?: boolean
}

/** `fleet-breaker reset <id…> [--yes]`. */
export function resetCommand(program: Command): void {
  program
    .command('reset')
    .description('put circuits back to a fresh CLOSED state: counts, backoff and overrides are cleared')
    .argument('<id...>', 'circuit ids')
    .option('-y, --yes', YES_HELP)
    .option('--reason <text>', 'why (shown in the history)')
    .option('--actor <name>', 'who makes the change (default: the AWS caller identity, else the OS user)')
    .action(async (ids: string[], options: ResetOptions, self: Command) => {
      const circuitIds = checkCircuitIds(ids)
      const reason = checkReason(options.reason)
      await confirmMany(circuitIds, options.yes, {
        verb: 'Reset',
        doing: 'resetting',
        consequence: 'Counts, backoff and overrides are cleared fleet-wide.',
      })
      await withControl(self.optsWithGlobals<GlobalOptions>(), async (context) => {
        const statuses = await applyToEach(context, circuitIds, options, (id, actor) =>
          context.control.reset(id, { actor, ...(reason === undefined ? {} : { reason }) }),
        )
        printChanges(context, 'Reset', statuses)
      })
    })
}

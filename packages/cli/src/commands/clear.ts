import type { Command } from 'commander'
import { confirmMany, YES_HELP } from '../confirm.js'
import { checkCircuitIds, type GlobalOptions, withControl } from '../context.js'
import { applyToEach, type ChangeOptions, checkReason, printChanges } from './changes.js'

/** `fleet-breaker clear <id…>`: removes overrides; the automatic state applies again. */
export function clearCommand(program: Command): void {
  program
    .command('clear')
    .description('remove the override of circuits: the automatic state, frozen meanwhile, applies again')
    .argument('<id...>', 'circuit ids')
    .option('--reason <text>', 'why (shown in the history)')
    .option('--actor <name>', 'who makes the change (default: the AWS caller identity, else the OS user)')
    .option('-y, --yes', YES_HELP)
    .action(async (ids: string[], options: ChangeOptions & { readonly yes?: boolean }, self: Command) => {
      const circuitIds = checkCircuitIds(ids)
      const reason = checkReason(options.reason)
      await confirmMany(circuitIds, options.yes, {
        verb: 'Clear the override of',
        doing: 'clearing',
        consequence: 'Their automatic state applies again fleet-wide.',
      })
      await withControl(self.optsWithGlobals<GlobalOptions>(), async (context) => {
        const statuses = await applyToEach(context, circuitIds, options, (id, actor) =>
          context.control.clearOverride(id, { actor, ...(reason === undefined ? {} : { reason }) }),
        )
        printChanges(context, 'Cleared', statuses)
      })
    })
}

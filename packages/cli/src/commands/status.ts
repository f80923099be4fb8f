import type { Command } from 'commander'
import { checkCircuitIds, type GlobalOptions, requireKnown, withControl } from '../context.js'
import { printJson, printLine, statusBlock, statusJson } from '../output.js'

/** `fleet-breaker status <id…>`: each circuit in detail. */
export function statusCommand(program: Command): void {
  program
    .command('status')
    .description('show circuits in detail: state, failures, retry time, probes, override, last transition')
    .argument('<id...>', 'circuit ids')
    .action(async (ids: string[], _options: object, command: Command) => {
      const circuitIds = checkCircuitIds(ids)
      await withControl(command.optsWithGlobals<GlobalOptions>(), async (context) => {
        const statuses = await requireKnown(context, circuitIds)
        if (context.json) {
          printJson(statuses.map(statusJson))
          return
        }
        const now = context.now()
        printLine(statuses.map((status) => statusBlock(status, now, context.colors)).join('\n\n'))
      })
    })
}

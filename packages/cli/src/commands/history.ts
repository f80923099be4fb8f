import type { Command } from 'commander'
import { checkCircuitIds, type GlobalOptions, requireKnown, withControl } from '../context.js'
import { historyJson, historyTable, printJson, printLine } from '../output.js'

/** `fleet-breaker history <id>`: the last changes made to a circuit, newest first. */
export function historyCommand(program: Command): void {
  program
    .command('history')
    .description('show the last operator changes to a circuit (who, what, when), newest first')
    .argument('<id>', 'circuit id')
    .action(async (id: string, _options: object, self: Command) => {
      const [circuitId] = checkCircuitIds([id]) as [string]
      await withControl(self.optsWithGlobals<GlobalOptions>(), async (context) => {
        await requireKnown(context, [circuitId])
        const entries = await context.control.history(circuitId)
        if (context.json) {
          printJson(entries.map(historyJson))
          return
        }
        if (entries.length === 0) {
          printLine(`No changes recorded for ${circuitId}.`)
          return
        }
        printLine(historyTable(entries, context.colors))
      })
    })
}

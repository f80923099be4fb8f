import type { Command } from 'commander'
import { type GlobalOptions, withControl } from '../context.js'
import type { CircuitControl, CircuitStatus } from '../control.js'
import { circuitTable, printJson, printLine, statusJson } from '../output.js'

/** Every circuit the store holds, page by page, in id order. */
export async function listAll(control: CircuitControl): Promise<CircuitStatus[]> {
  // A Redis SCAN can return a circuit on two pages while the server resizes its key table.
  const circuits = new Map<string, CircuitStatus>()
  let cursor: string | undefined
  do {
    const page = await control.list(cursor === undefined ? {} : { cursor })
    for (const circuit of page.circuits) circuits.set(circuit.circuitId, circuit)
    cursor = page.cursor
  } while (cursor !== undefined)
  return [...circuits.values()].sort((a, b) => (a.circuitId < b.circuitId ? -1 : a.circuitId > b.circuitId ? 1 : 0))
}

/** `fleet-breaker list`: every circuit in the store, one row each. */
export function listCommand(program: Command): void {
  program
    .command('list')
    .description('list every circuit the store holds a record for')
    .action(async (_options: object, command: Command) => {
      await withControl(command.optsWithGlobals<GlobalOptions>(), async (context) => {
        const circuits = await listAll(context.control)
        if (context.json) {
          printJson(circuits.map(statusJson))
          return
        }
        if (circuits.length === 0) {
          printLine(`No circuits in ${context.connection.target}.`)
          return
        }
        printLine(circuitTable(circuits, context.now(), context.colors))
      })
    })
}

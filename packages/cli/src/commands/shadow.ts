import type { Command } from 'commander'
import { checkCircuitIds, type GlobalOptions, withControl } from '../context.js'
import { formatDuration, parseDuration } from '../duration.js'
import { UsageError } from '../errors.js'
import { printJson, printLine, statusJson } from '../output.js'
import { applyToEach, type ChangeOptions, checkReason } from './changes.js'

interface ShadowOptions extends ChangeOptions {
  readonly off?: boolean
  readonly for?: string
  readonly create?: boolean
}

/** `fleet-breaker shadow <id…> [--off]`: the breaker decides and records, but never rejects. */
export function shadowCommand(program: Command): void {
  program
    .command('shadow')
    .description('put circuits in shadow mode fleet-wide: decide and record as usual, log "would reject", never reject')
    .argument('<id...>', 'circuit ids')
    .option('--off', 'leave shadow mode: the breaker rejects again')
    .option('--for <duration>', 'end shadow mode on its own after this long, e.g. 24h (default: until --off)')
    .option('--reason <text>', 'why (shown in the history)')
    .option('--actor <name>', 'who makes the change (default: the AWS caller identity, else the OS user)')
    .option('--create', 'also set it on circuits the store holds nothing for yet (a new rollout)')
    .action(async (ids: string[], options: ShadowOptions, self: Command) => {
      const circuitIds = checkCircuitIds(ids)
      const reason = checkReason(options.reason)
      const enabled = options.off !== true
      if (!enabled && options.for !== undefined)
        throw new UsageError('--for applies to switching shadow mode on, not --off')
      const durationMs = options.for === undefined ? undefined : parseDuration(options.for, '--for')
      await withControl(self.optsWithGlobals<GlobalOptions>(), async (context) => {
        const statuses = await applyToEach(context, circuitIds, options, (id, actor) =>
          context.control.setShadow(id, enabled, {
            actor,
            ...(reason === undefined ? {} : { reason }),
            ...(durationMs === undefined ? {} : { durationMs }),
          }),
        )
        if (context.json) {
          printJson(statuses.map(statusJson))
          return
        }
        const now = context.now()
        for (const status of statuses) {
          const until = status.shadowOverride?.until
          const lasting = !enabled
            ? ''
            : until === undefined
              ? ' until switched off'
              : ` for ${formatDuration(until - now)}`
          printLine(`Shadow mode ${enabled ? 'on' : 'off'} for ${status.circuitId}${lasting}: now ${status.state}`)
        }
      })
    })
}

import { Command, CommanderError, Option } from 'commander'
import { clearCommand } from './commands/clear.js'
import { historyCommand } from './commands/history.js'
import { listCommand } from './commands/list.js'
import { closeCommand, openCommand } from './commands/override.js'
import { resetCommand } from './commands/reset.js'
import { shadowCommand } from './commands/shadow.js'
import { statusCommand } from './commands/status.js'
import { watchCommand } from './commands/watch.js'
import { ExitCode, isCliError } from './errors.js'
import { parseTimeout } from './timeout.js'

export const VERSION = '0.1.0'

/** The `fleet-breaker` program: global store options, then one subcommand per operation. */
export function buildProgram(): Command {
  const program = new Command('fleet-breaker')
    .description('Operate fleet-breaker circuits shared by a fleet of AWS Lambda functions.')
    .version(VERSION)
    .addOption(
      new Option('--store <kind>', 'the store: dynamodb or redis')
        .env('CIRCUIT_BREAKER_STORE')
        .default(undefined, 'dynamodb'),
    )
    .addOption(new Option('--table <name>', 'the DynamoDB table').env('CIRCUIT_BREAKER_TABLE'))
    .addOption(
      new Option(
        '--region <region>',
        "the table's AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the AWS config)",
      ),
    )
    .addOption(
      new Option('--redis-url <url>', 'the Redis or Valkey server, redis:// or rediss://').env(
        'CIRCUIT_BREAKER_REDIS_URL',
      ),
    )
    .addOption(new Option('--key-prefix <prefix>', 'put before circuit ids in keys').env('CIRCUIT_BREAKER_KEY_PREFIX'))
    .addOption(
      new Option(
        '--timeout <duration>',
        'fail (exit 1) when the command takes longer, e.g. 30s or 1500ms; for watch, each refresh (default: none)',
      ).argParser(parseTimeout),
    )
    .option('--json', 'print JSON instead of text')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Usage errors are one line; `--help` shows the rest.
      outputError: (text, write) => write(`${text.trim().split('\n')[0]} (see fleet-breaker --help)\n`),
    })
  for (const register of [
    listCommand,
    statusCommand,
    openCommand,
    closeCommand,
    clearCommand,
    resetCommand,
    shadowCommand,
    historyCommand,
    watchCommand,
  ]) {
    register(program)
  }
  for (const command of program.commands) command.exitOverride()
  return program
}

/**
 * Runs the command line and answers the exit code: 0 done, 1 failed, 2 usage. Errors are printed
 * as one line on stderr; never a stack trace.
 *
 * @example
 * ```ts
 * process.exitCode = await run(process.argv)
 * ```
 */
export async function run(argv: readonly string[]): Promise<ExitCode> {
  const program = buildProgram()
  try {
    await program.parseAsync([...argv])
    return ExitCode.DONE
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end the program through the same path, successfully.
      if (error.exitCode === 0) return ExitCode.DONE
      return ExitCode.USAGE
    }
    if (isCliError(error)) {
      process.stderr.write(`error: ${error.message}\n`)
      return error.exitCode
    }
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`error: ${message.split('\n')[0]}\n`)
    return ExitCode.FAILED
  }
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Bundle } from './bundle.js'
import { launch, type StartTimings } from './launch.js'
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalTable, startLocalTable } from './local-dynamodb.js'

/** The handlers compared, in the order of the report. */
export const HANDLERS = [
  'baseline',
  'sdk-client',
  'dynamodb-caller',
  'breaker',
  'breaker-dynamodb-caller',
  'breaker-init-read',
] as const
export type HandlerId = (typeof HANDLERS)[number]

export interface StartPlan {
  readonly rounds: number
  /** Rounds launched before timing, so that reading the bundles from disk the first time is not counted. */
  readonly warmupRounds: number
}

const TABLE_NAME = 'circuit-breakers'

/** `items` rotated left by `by`: round r starts with a different handler, so each goes first as often. */
function rotated<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

/** Only what Lambda would set, plus the local endpoint; config files that do not exist keep the machine's AWS settings out. */
function lambdaLikeEnvironment(local: LocalTable, directory: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: local.endpoint,
    AWS_CONFIG_FILE: join(directory, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(directory, 'no-credentials'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    CIRCUIT_BREAKER_TABLE: local.tableName,
  }
}

/**
 * Writes the runner and the handler bundles to a temporary directory, starts dynalite with the
 * circuit table, and launches every handler once per round in a fresh process. Removes the
 * directory and stops the server whatever happens.
 */
export async function measureStarts(
  runner: Bundle,
  handlers: Readonly<Record<HandlerId, Bundle>>,
  plan: StartPlan,
  log: (line: string) => void,
  nodePath: string = process.execPath,
): Promise<Record<HandlerId, StartTimings[]>> {
  const directory = mkdtempSync(join(tmpdir(), 'fleet-breaker-cold-start-'))
  let local: LocalTable | undefined
  try {
    const runnerPath = join(directory, 'invoke.mjs')
    writeFileSync(runnerPath, runner.code)
    const pathOf = (id: HandlerId) => join(directory, `${id}.mjs`)
    for (const id of HANDLERS) writeFileSync(pathOf(id), handlers[id].code)
    local = await startLocalTable(TABLE_NAME)
    const env = lambdaLikeEnvironment(local, directory)
    const timings = Object.fromEntries(HANDLERS.map((id) => [id, [] as StartTimings[]])) as Record<
      HandlerId,
      StartTimings[]
    >
    for (let round = -plan.warmupRounds; round < plan.rounds; round += 1) {
      for (const id of rotated(HANDLERS, round + plan.warmupRounds)) {
        const result = await launch(runnerPath, pathOf(id), env, nodePath)
        if (round >= 0) timings[id].push(result)
      }
      if (round >= 0) log(`round ${round + 1}/${plan.rounds}`)
    }
    return timings
  } finally {
    await local?.stop()
    rmSync(directory, { recursive: true, force: true })
  }
}

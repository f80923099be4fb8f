import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { build, type Metafile, type Plugin, stop } from 'esbuild'

/*
 * A function bundles only the backend it uses: esbuild's metafile says which source files each
 * output carries. The client libraries stay external, as on Lambda (the AWS SDK is in the runtime;
 * a Redis client would be bundled, but it is not ours to measure).
 */

const repo = resolve(fileURLToPath(import.meta.url), '../../../../..')
const sources: Record<string, string> = {
  '@fleet-breaker/core': 'packages/core/src/index.ts',
  '@fleet-breaker/storage': 'packages/storage/src/index.ts',
  '@fleet-breaker/storage/dynamodb': 'packages/storage/src/dynamodb/index.ts',
  '@fleet-breaker/storage/redis': 'packages/storage/src/redis/index.ts',
}
const fromSources: Plugin = {
  name: 'fleet-breaker-sources',
  setup(plugin) {
    plugin.onResolve({ filter: /^@fleet-breaker\// }, (args) => {
      const source = sources[args.path]
      return source === undefined ? undefined : { path: join(repo, source) }
    })
  },
}

let outdir: string
beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'fleet-breaker-bundle-'))
})
afterAll(async () => {
  // esbuild's service process outlives the builds and would keep the test run from exiting.
  await stop()
  await rm(outdir, { recursive: true, force: true })
})

/** Bundles `code` as a function's entry (ESM, code splitting on) and returns the metafile. */
async function bundle(code: string): Promise<Metafile> {
  const result = await build({
    stdin: { contents: code, resolveDir: repo, loader: 'ts', sourcefile: 'handler.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    splitting: true,
    outdir,
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['@aws-sdk/*', '@smithy/*', 'ioredis', 'redis'],
    plugins: [fromSources],
  })
  return result.metafile
}

/** The source files an output carries, relative to the repository. */
function inputsOf(output: Metafile['outputs'][string]): string[] {
  return Object.keys(output.inputs).map((input) => relative(repo, resolve(repo, input)))
}

function entryOf(metafile: Metafile) {
  const entry = Object.values(metafile.outputs).find(
    (output) => output.entryPoint === '<stdin>' || output.entryPoint === 'handler.ts',
  )
  if (entry === undefined) throw new Error('no entry output')
  return entry
}

const redisSources = (inputs: string[]) => inputs.filter((input) => input.startsWith('packages/storage/src/redis/'))
const dynamoDBSources = (inputs: string[]) =>
  inputs.filter((input) => input.startsWith('packages/storage/src/dynamodb/'))

describe('bundles', () => {
  it('of a DynamoDB function carry no Redis store', async () => {
    const metafile = await bundle(
      "import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'\nexport const store = new DynamoDBStore({ tableName: 't' })\n",
    )
    const inputs = Object.values(metafile.outputs).flatMap(inputsOf)
    expect(dynamoDBSources(inputs)).toContain('packages/storage/src/dynamodb/store.ts')
    expect(redisSources(inputs)).toEqual([])
  }, 60_000)

  it('of a Redis function carry no DynamoDB store', async () => {
    const metafile = await bundle(
      "import { RedisStore } from '@fleet-breaker/storage/redis'\nexport const make = (client: never) => new RedisStore({ client })\n",
    )
    const inputs = Object.values(metafile.outputs).flatMap(inputsOf)
    expect(redisSources(inputs)).toContain('packages/storage/src/redis/redis-store.ts')
    expect(dynamoDBSources(inputs)).toEqual([])
  }, 60_000)

  it('of a function choosing its store from the environment load each backend as a chunk of its own', async () => {
    const metafile = await bundle(
      "import { createStoreFromEnvironment } from '@fleet-breaker/storage'\nexport const store = await createStoreFromEnvironment()\n",
    )
    const entry = entryOf(metafile)
    expect(inputsOf(entry)).toContain('packages/storage/src/from-environment.ts')
    expect(dynamoDBSources(inputsOf(entry))).toEqual([])
    expect(redisSources(inputsOf(entry)).filter((input) => !input.endsWith('client-errors.ts'))).toEqual([])
    // Each dynamic import() is an output of its own, loaded only when that backend is chosen.
    const chunks = Object.values(metafile.outputs).filter((output) => output !== entry)
    const dynamoDBChunk = chunks.find((chunk) => inputsOf(chunk).includes('packages/storage/src/dynamodb/store.ts'))
    const redisChunk = chunks.find((chunk) => inputsOf(chunk).includes('packages/storage/src/redis/redis-store.ts'))
    expect(dynamoDBChunk).toBeDefined()
    expect(redisChunk).toBeDefined()
    expect(redisSources(inputsOf(dynamoDBChunk ?? entry))).toEqual([])
    expect(dynamoDBSources(inputsOf(redisChunk ?? entry))).toEqual([])
  }, 60_000)
})

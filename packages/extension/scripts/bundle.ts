import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repoRoot = resolve(packageRoot, '../..')

/** The workspace packages, taken from their sources so the bundle never lags behind them. */
const WORKSPACE_SOURCES: Record<string, string> = {
  '@fleet-breaker/core': 'packages/core/src/index.ts',
  '@fleet-breaker/storage': 'packages/storage/src/index.ts',
  '@fleet-breaker/storage/dynamodb': 'packages/storage/src/dynamodb/index.ts',
  '@fleet-breaker/storage/redis': 'packages/storage/src/redis/index.ts',
}

const workspaceSources: Plugin = {
  name: 'workspace-sources',
  setup(builder) {
    builder.onResolve({ filter: /^@fleet-breaker\// }, (args) => {
      const source = WORKSPACE_SOURCES[args.path]
      return source === undefined ? undefined : { path: resolve(repoRoot, source) }
    })
  },
}

export interface BundleResult {
  readonly path: string
  readonly bytes: number
}

/**
 * Bundles the extension, with every dependency (the AWS SDK's DynamoDB client and ioredis
 * included: an extension cannot use the function's or the runtime's modules), into one CommonJS
 * file: the form both `node file.cjs` and a Node.js single executable application run.
 */
export async function bundleExtension(outfile: string): Promise<BundleResult> {
  const result = await build({
    entryPoints: [resolve(packageRoot, 'src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    keepNames: true,
    // The SDK's ESM build is the smaller one once bundled.
    mainFields: ['module', 'main'],
    plugins: [workspaceSources],
    legalComments: 'none',
    logLevel: 'error',
    metafile: true,
  })
  const output = Object.entries(result.metafile.outputs).find(([path]) => path.endsWith('.cjs'))
  return { path: outfile, bytes: output?.[1].bytes ?? 0 }
}

import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** Whether the AWS SDK goes into the bundle, or is left to the Lambda runtime's copy. */
export type SdkPlacement = 'external' | 'bundled'

export interface Bundle {
  readonly code: string
  readonly bytes: number
  /** Gzip at level 9: roughly what the zipped deployment package adds. */
  readonly gzipBytes: number
}

/**
 * Bundles one handler as a Lambda deployment would: one minified ESM file for Node 22. With the SDK
 * external, `@aws-sdk/*` imports stay as imports, resolved at run time from the runtime's own copy.
 *
 * `mainFields` puts `module` first, as AWS CDK's `NodejsFunction` does for ESM output: esbuild then
 * takes the SDK's ESM build, which tree-shakes and needs no `require` shim. With esbuild's default
 * for Node (`main` first) the bundled SDK comes out about half as large again.
 */
export async function bundleHandler(entry: string, sdk: SdkPlacement): Promise<Bundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: sdk === 'external' ? ['@aws-sdk/*'] : [],
    write: false,
    logLevel: 'silent',
  })
  const output = result.outputFiles[0]
  if (output === undefined) throw new Error(`esbuild wrote nothing for ${entry}`)
  return {
    code: output.text,
    bytes: output.contents.byteLength,
    gzipBytes: gzipSync(output.contents, { level: 9 }).byteLength,
  }
}

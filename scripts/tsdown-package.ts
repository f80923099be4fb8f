import { defineConfig, type UserConfig } from 'tsdown'

/**
 * The build every published package shares: a dual package, ESM (`.mjs`) and CommonJS (`.cjs`),
 * each with declarations of its own (`.d.mts`, `.d.cts`), so `import` and `require` both resolve
 * types that describe the module they load. Dependencies and peer dependencies stay external.
 * No source maps: the tarballs do not carry the sources a map would point to.
 *
 * tsdown stays on 0.21 (`^0.21.10`), its last minor that runs on Node.js 20, which the project
 * still supports for development; it prints a deprecation notice there, which is expected.
 *
 * @example
 * ```ts
 * export default packageBuild({ index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' })
 * ```
 */
export function packageBuild(entry: Record<string, string>, overrides: UserConfig = {}): UserConfig {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    platform: 'node',
    target: 'node20',
    fixedExtension: true,
    hash: false,
    dts: { sourcemap: false },
    sourcemap: false,
    tsconfig: 'tsconfig.build.json',
    clean: true,
    logLevel: 'warn',
    // The timing report is advice for plugin authors; it is noise in every build log.
    inputOptions: { checks: { pluginTimings: false } },
    ...overrides,
  })
}

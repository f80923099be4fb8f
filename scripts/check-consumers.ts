/**
 * `pnpm check:consumers`: proves the packed packages work in an outside project the ways Lambda
 * users consume them (run `pnpm build` first). The project in tests/consumers/ is copied to a
 * temporary directory and installs the `pnpm pack` tarballs with plain npm; then
 * - Node.js loads every entry point with `import` (esm.mjs) and with `require` (cjs.cjs);
 * - TypeScript compiles its sources and every README snippet (tests/consumers/readme-snippets,
 *   kept current by `pnpm readme-snippets`) under `module: nodenext` and under
 *   `moduleResolution: bundler`, and its sources under `module: commonjs` (node10 resolution);
 * - TypeScript compiles them again under the strictest options (node16, `exactOptionalPropertyTypes`,
 *   `verbatimModuleSyntax`, a `.cts` module using `require`), checking the packages' declarations;
 * - esbuild bundles a handler to ESM, and to CommonJS as AWS CDK's `NodejsFunction` does
 *   (`format: 'cjs'`, `platform: 'node'`, the AWS SDK left to the runtime), and both bundles run;
 *   the CommonJS one also alone in a directory, as Lambda runs it.
 * Each step prints its time; the script exits 1 at the first step that fails.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { packPackage, publishedPackages, ROOT } from './lib/packages.js'

const FIXTURE = path.join(ROOT, 'tests/consumers')
const started = performance.now()
const workDir = mkdtempSync(path.join(tmpdir(), 'fleet-breaker-consumer-'))
const project = path.join(workDir, 'project')

function step(name: string, run: () => void): void {
  const begun = performance.now()
  try {
    run()
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    console.error(`check-consumers: ${name} failed\n${[stdout, stderr].filter(Boolean).join('\n') || String(error)}`)
    throw error
  }
  console.log(`  ${name} (${((performance.now() - begun) / 1000).toFixed(1)} s)`)
}

function run(file: string, args: readonly string[], env: Record<string, string> = {}): string {
  return execFileSync(file, args, {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  })
}

const node = (args: readonly string[], env?: Record<string, string>) => run(process.execPath, args, env)
const bin = (name: string) => path.join(project, 'node_modules/.bin', name)

/**
 * Compiles under the strictest options a user may have, checking declaration files too
 * (`skipLibCheck: false`), so an error in the packages' own `.d.mts`/`.d.cts` cannot hide. Other
 * libraries' declarations are not this project's to fix (some fail under
 * `exactOptionalPropertyTypes`), so only errors in the consumer's files and in @fleet-breaker's count.
 */
function strictestTypeCheck(): void {
  let output = ''
  try {
    run(bin('tsc'), ['-p', 'tsconfig.strictest.json', '--pretty', 'false'])
    return
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? '')
  }
  const ours = output
    .split('\n')
    .filter((line) => /^\S.*\(\d+,\d+\): error /.test(line))
    .filter((line) => !line.startsWith('node_modules/') || line.startsWith('node_modules/@fleet-breaker/'))
  if (ours.length > 0) throw Object.assign(new Error('type errors'), { stdout: ours.join('\n') })
}

try {
  const tarballs = path.join(workDir, 'tarballs')
  mkdirSync(tarballs)
  step('pack every published package', () => {
    cpSync(FIXTURE, project, { recursive: true, filter: (source) => !source.includes('node_modules') })
    const manifestPath = path.join(project, 'package.json')
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>
    const dependencies: Record<string, string> = {}
    for (const pkg of publishedPackages()) {
      dependencies[pkg.manifest.name] = `file:${packPackage(pkg, tarballs).tarball}`
    }
    writeFileSync(manifestPath, `${JSON.stringify({ ...manifest, dependencies }, null, 2)}\n`)
  })
  step('npm install the tarballs', () => {
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'])
  })
  step('ESM: import every entry point and call through a breaker', () => node(['esm.mjs']))
  step('CommonJS: require every entry point and call through a breaker', () => node(['cjs.cjs']))
  step('TypeScript module nodenext: sources and README snippets', () =>
    run(bin('tsc'), ['-p', 'tsconfig.nodenext.json']),
  )
  step('TypeScript moduleResolution bundler: sources and README snippets', () =>
    run(bin('tsc'), ['-p', 'tsconfig.bundler.json']),
  )
  // `"module": "commonjs"` without `moduleResolution` (many CDK and SAM projects): TypeScript's
  // node10 resolution ignores `exports` and finds a subpath's types only through `typesVersions`.
  step('TypeScript module commonjs (node10 resolution): every entry point, subpaths included', () =>
    run(bin('tsc'), ['-p', 'tsconfig.commonjs.json']),
  )
  step(
    'TypeScript strictest (node16, exactOptionalPropertyTypes, verbatimModuleSyntax, .cts): no lib check skipped',
    () => strictestTypeCheck(),
  )
  const bundles = [
    { file: 'dist/handler.mjs', format: 'esm' },
    // What NodejsFunction does by default: CommonJS for Node.js, the AWS SDK v3 from the runtime.
    { file: 'dist/handler.cjs', format: 'cjs' },
  ]
  for (const { file, format } of bundles) {
    step(`esbuild ${format} bundle: build and invoke`, () => {
      run(bin('esbuild'), [
        'src/handler.ts',
        '--bundle',
        `--format=${format}`,
        '--platform=node',
        '--target=node20',
        '--external:@aws-sdk/*',
        `--outfile=${file}`,
        '--log-level=warning',
      ])
      node(['run-bundle.cjs', file], { CIRCUIT_BREAKER_STORE: 'memory' })
      console.log(`    ${file}: ${(statSync(path.join(project, file)).size / 1024).toFixed(0)} kB`)
    })
  }
  step(
    'the CommonJS bundle alone in a directory, as deployed: runs, and a Redis store says how to ship its client',
    () => {
      // Inside the project, node_modules would hide whatever the bundle failed to carry.
      const deployed = path.join(workDir, 'deployed')
      mkdirSync(deployed)
      cpSync(path.join(project, 'dist/handler.cjs'), path.join(deployed, 'index.cjs'))
      cpSync(path.join(project, 'deployed-bundle.cjs'), path.join(deployed, 'deployed-bundle.cjs'))
      const alone = (store: string) =>
        execFileSync(process.execPath, ['deployed-bundle.cjs', 'index.cjs'], {
          cwd: deployed,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, CIRCUIT_BREAKER_STORE: store, CIRCUIT_BREAKER_REDIS_URL: 'redis://127.0.0.1:6379' },
        })
      alone('memory')
      alone('redis')
    },
  )
  console.log(`check-consumers: every consumer works (${((performance.now() - started) / 1000).toFixed(1)} s)`)
} catch {
  process.exitCode = 1
} finally {
  rmSync(workDir, { recursive: true, force: true })
}

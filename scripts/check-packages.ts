/**
 * `pnpm check:packages`: checks every published package the way the ecosystem does, on the
 * tarball npm would publish (run `pnpm build` first):
 * - its package.json: repository (with directory), homepage, bugs, keywords, license, engines, and
 *   an `exports` map whose every entry has `import` and `require`, each with its own types;
 * - what `pnpm pack` puts in it: package.json, README.md, the project's LICENSE, every file the
 *   `exports` and `bin` fields name; no tests, no sources, and a source map only with its sources;
 * - publint (no warning, no error) and Are the Types Wrong (its `strict` profile: ESM and CommonJS
 *   consumers under Node's resolution and bundlers, and TypeScript's `node10` resolution, which a
 *   project with `"module": "commonjs"` still gets and which finds a subpath's types only through
 *   `typesVersions`; no problem);
 * - README links that work on the npm page: absolute URLs (a relative link would point at npm,
 *   not at the repository), and links into this repository name a file that exists.
 * Exits 1 with one line per problem.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import {
  type PackageManifest,
  type PackedPackage,
  packPackage,
  publishedPackages,
  REPOSITORY_URL,
  ROOT,
} from './lib/packages.js'

const problems: string[] = []
const report = (pkg: PackageManifest, problem: string) => problems.push(`${pkg.name}: ${problem}`)

/** Every file path an `exports` (or `bin`) value names, e.g. `./dist/index.mjs`. */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap(targets)
}

function checkManifest({ dir, manifest }: PackedPackage): void {
  const repository = manifest.repository as { url?: string; directory?: string } | undefined
  if (repository?.url !== `git+${REPOSITORY_URL}.git`)
    report(manifest, `repository.url must be git+${REPOSITORY_URL}.git`)
  if (repository?.directory !== dir) report(manifest, `repository.directory must be ${dir}`)
  if (manifest.homepage !== `${REPOSITORY_URL}/tree/main/${dir}#readme`) report(manifest, 'homepage must be its README')
  if ((manifest.bugs as { url?: string } | undefined)?.url !== `${REPOSITORY_URL}/issues`) {
    report(manifest, `bugs.url must be ${REPOSITORY_URL}/issues`)
  }
  if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) report(manifest, 'keywords are missing')
  if (manifest.license !== 'MIT') report(manifest, 'license must be MIT')
  if (typeof (manifest.engines as { node?: string } | undefined)?.node !== 'string')
    report(manifest, 'engines.node is missing')
  for (const [subpath, entry] of Object.entries(manifest.exports ?? {})) {
    if (subpath === './package.json') continue
    const conditions = (entry ?? {}) as Record<string, { types?: string; default?: string } | undefined>
    for (const condition of ['import', 'require']) {
      const target = conditions[condition]
      if (target?.types === undefined || target.default === undefined) {
        report(manifest, `exports["${subpath}"].${condition} needs "types" and "default"`)
      }
    }
  }
}

function checkContents(packed: PackedPackage): void {
  const { manifest, files, dir } = packed
  const shipped = new Set(files)
  for (const required of ['package.json', 'README.md', 'LICENSE']) {
    if (!shipped.has(required)) report(manifest, `the tarball lacks ${required}`)
  }
  if (
    shipped.has('LICENSE') &&
    readFileSync(path.join(ROOT, dir, 'LICENSE'), 'utf8') !== readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')
  ) {
    report(manifest, `${dir}/LICENSE differs from the project's LICENSE`)
  }
  if (!files.some((file) => file.startsWith('dist/')))
    report(manifest, 'the tarball has no dist/ (run pnpm build first)')
  for (const target of [...targets(manifest.exports), ...targets(manifest.bin)]) {
    const file = path.posix.normalize(target)
    if (!shipped.has(file)) report(manifest, `${target}, named in package.json, is not in the tarball`)
  }
  for (const file of files) {
    if (/(^|\/)(tests?|__tests__)\//.test(file) || /\.(test|spec)\.[cm]?[jt]sx?$/.test(file)) {
      report(manifest, `the tarball ships a test: ${file}`)
    }
    if (/(^|\/)src\/.*\.ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file))
      report(manifest, `the tarball ships a source file: ${file}`)
    if (file.endsWith('.map')) {
      const map = JSON.parse(readFileSync(path.join(ROOT, dir, file), 'utf8')) as {
        sources?: string[]
        sourcesContent?: unknown[]
      }
      if (map.sourcesContent?.length === map.sources?.length && map.sources?.length) continue
      for (const source of map.sources ?? []) {
        const shippedSource = path.posix.normalize(path.posix.join(path.posix.dirname(file), source))
        if (!shipped.has(shippedSource)) report(manifest, `${file} points at ${source}, which is not in the tarball`)
      }
    }
  }
}

async function checkPublint(packed: PackedPackage): Promise<void> {
  const tarball = readFileSync(packed.tarball)
  const { messages, pkg } = await publint({
    pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) },
    level: 'suggestion',
  })
  for (const message of messages) {
    const text = formatMessage(message, pkg, { color: false }) ?? message.code
    if (message.type === 'suggestion') console.log(`  publint suggests (${packed.manifest.name}): ${text}`)
    else report(packed.manifest, `publint ${message.type}: ${text}`)
  }
}

const run = promisify(execFile)

async function checkTypes(packed: PackedPackage): Promise<void> {
  const attw = path.join(ROOT, 'node_modules/.bin/attw')
  try {
    await run(attw, [packed.tarball, '--profile', 'strict', '--format', 'table', '--no-emoji', '--no-color'])
  } catch (error) {
    const output = (error as { stdout?: string }).stdout ?? String(error)
    report(packed.manifest, `Are the Types Wrong found problems:\n${output.trim()}`)
  }
}

const LINK = /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|(?:href|src)="([^"]+)"/g

function checkReadmeLinks({ manifest, dir }: PackedPackage): void {
  const readmePath = path.join(ROOT, dir, 'README.md')
  if (!existsSync(readmePath)) return
  const readme = readFileSync(readmePath, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  for (const match of readme.matchAll(LINK)) {
    const target = match[1] ?? match[2] ?? ''
    if (target.startsWith('#') || /^mailto:/.test(target)) continue
    if (!/^https?:\/\//.test(target)) {
      report(
        manifest,
        `README link "${target}" is relative: on the npm page it points nowhere; use ${REPOSITORY_URL}/blob/main/...`,
      )
      continue
    }
    const inRepository = new RegExp(`^${REPOSITORY_URL}/(?:blob|tree)/main/([^#?]+)`).exec(target)
    if (inRepository?.[1] !== undefined && !existsSync(path.join(ROOT, decodeURIComponent(inRepository[1])))) {
      report(manifest, `README link "${target}" names ${inRepository[1]}, which is not in the repository`)
    }
  }
}

const started = performance.now()
const destination = mkdtempSync(path.join(tmpdir(), 'fleet-breaker-pack-'))
try {
  const packedPackages = publishedPackages().map((pkg) => packPackage(pkg, destination))
  // Are the Types Wrong takes seconds per package: every package at once.
  await Promise.all(
    packedPackages.map(async (packed) => {
      checkManifest(packed)
      checkContents(packed)
      checkReadmeLinks(packed)
      await checkPublint(packed)
      await checkTypes(packed)
      console.log(`  ${packed.manifest.name}: ${packed.files.length} files checked`)
    }),
  )
} finally {
  rmSync(destination, { recursive: true, force: true })
}
for (const problem of problems) console.error(`check-packages: ${problem}`)
console.log(
  `check-packages: ${problems.length === 0 ? 'every package is clean' : `${problems.length} problems`} ` +
    `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
)
process.exitCode = problems.length === 0 ? 0 : 1

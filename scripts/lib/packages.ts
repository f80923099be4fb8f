import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root directory. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** The project's public home: `repository`, `homepage` and README links all point here. */
export const REPOSITORY_URL = 'https://github.com/fleet-breaker/fleet-breaker'

/** What a package's package.json says, as far as the checks read it. */
export interface PackageManifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly exports?: Record<string, unknown>
  readonly bin?: string | Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly [field: string]: unknown
}

/** A package of the workspace that is published to npm. */
export interface PublishedPackage {
  /** Relative to the root, e.g. `packages/core`. */
  readonly dir: string
  readonly manifest: PackageManifest
}

/**
 * Every package under packages/ that is not private, in directory order.
 *
 * @example
 * ```ts
 * for (const { dir, manifest } of publishedPackages()) console.log(dir, manifest.name)
 * ```
 */
export function publishedPackages(): PublishedPackage[] {
  const packagesDir = path.join(ROOT, 'packages')
  return readdirSync(packagesDir)
    .sort()
    .map((name) => path.join('packages', name))
    .filter((dir) => existsSync(path.join(ROOT, dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) }))
    .filter(({ manifest }) => manifest.private !== true)
}

/**
 * Runs pnpm: the one running this script when there is one (`npm_execpath`), so a Corepack-managed
 * pnpm works without being on PATH.
 */
export function pnpm(args: readonly string[], cwd: string): string {
  const [file, fileArgs] = pnpmCommand(args)
  return execFileSync(file, fileArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The command that runs pnpm with `args`: the running pnpm's own script when there is one. */
export function pnpmCommand(args: readonly string[]): [string, string[]] {
  const execPath = process.env.npm_execpath
  return execPath !== undefined && /pnpm/.test(execPath) ? [process.execPath, [execPath, ...args]] : ['pnpm', [...args]]
}

/** A packed tarball and the files in it, as npm will publish them. */
export interface PackedPackage extends PublishedPackage {
  readonly tarball: string
  /** Paths inside the package, e.g. `dist/index.mjs`, `package.json`. */
  readonly files: readonly string[]
}

/**
 * Packs a package with `pnpm pack` (which replaces `workspace:` ranges with real versions, as
 * publishing does) into `destination`.
 *
 * @example
 * ```ts
 * const packed = packPackage(publishedPackages()[0], '/tmp/tarballs')
 * packed.files.includes('LICENSE')
 * ```
 */
export function packPackage(pkg: PublishedPackage, destination: string): PackedPackage {
  const output = pnpm(['pack', '--json', '--pack-destination', destination], path.join(ROOT, pkg.dir))
  const report = JSON.parse(output.slice(output.indexOf('{'))) as {
    filename: string
    files: { path: string }[]
  }
  return { ...pkg, tarball: report.filename, files: report.files.map((file) => file.path).sort() }
}

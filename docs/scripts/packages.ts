/*
 * The packages of the repository as the site sees them: every packages/<dir> with a package.json
 * and a README, found when the site is built, and the source file behind each public entry point.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'

export interface PackageInfo {
  /** `@fleet-breaker/core` */
  readonly name: string
  /** `core`: the page is /packages/core. */
  readonly slug: string
  /** `packages/core`, relative to the repository. */
  readonly dir: string
  readonly description: string
  /** The package's `exports` keys (`.`, `./dynamodb`) with the file each names for types or import. */
  readonly exports: ReadonlyArray<{ readonly subpath: string; readonly target: string }>
}

function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value !== 'object' || value === null) return undefined
  const conditions = value as Record<string, unknown>
  for (const key of ['types', 'import', 'default', 'require']) {
    const target = exportTarget(conditions[key])
    if (target !== undefined) return target
  }
  return undefined
}

/** Every package under packages/ that has a package.json and a README.md, in name order. */
export function readPackages(repoDir: string): PackageInfo[] {
  const root = join(repoDir, 'packages')
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .filter(
      (entry) => existsSync(join(root, entry.name, 'package.json')) && existsSync(join(root, entry.name, 'README.md')),
    )
    .map((entry) => {
      const manifest = JSON.parse(readFileSync(join(root, entry.name, 'package.json'), 'utf8')) as {
        name?: string
        description?: string
        exports?: Record<string, unknown> | string
      }
      const exportsField =
        typeof manifest.exports === 'string'
          ? { '.': manifest.exports }
          : (manifest.exports ?? { '.': './src/index.ts' })
      const exports = Object.entries(exportsField)
        .filter(([subpath]) => subpath.startsWith('.') && !subpath.endsWith('.json'))
        .flatMap(([subpath, value]) => {
          const target = exportTarget(value)
          return target === undefined ? [] : [{ subpath, target }]
        })
      return {
        name: manifest.name ?? entry.name,
        slug: entry.name,
        dir: `packages/${entry.name}`,
        description: manifest.description ?? '',
        exports,
      }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** A public entry point of a package: its import name and the TypeScript source behind it. */
export interface ApiEntry {
  /** `@fleet-breaker/storage/dynamodb` */
  readonly module: string
  /** Absolute path of the source file. */
  readonly source: string
}

/**
 * The source behind each export: `./dist/dynamodb/index.d.ts` (or `.js`, `.cjs`, `.mjs`) is
 * `src/dynamodb/index.ts`. Exports whose source cannot be found (a binary, a JSON file) are skipped.
 */
export function apiEntryPoints(repoDir: string, packages: readonly PackageInfo[]): ApiEntry[] {
  return packages.flatMap((info) =>
    info.exports.flatMap(({ subpath, target }) => {
      const relativeSource = target
        .replace(/^\.\//, '')
        .replace(/^dist\//, 'src/')
        .replace(/\.d\.[cm]?ts$/, '.ts')
        .replace(/\.[cm]?js$/, '.ts')
      const source = join(repoDir, info.dir, relativeSource)
      if (!existsSync(source) || !source.endsWith('.ts')) return []
      return [{ module: posix.join(info.name, subpath), source }]
    }),
  )
}

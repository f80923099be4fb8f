import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it, jest } from '@jest/globals'
import { ROOT } from '../lib/packages.js'

/*
 * The misspelt-variable warning must never name a variable some fleet-breaker package really
 * reads: a function with the extension's layer, the health checker or the CLI's settings in its
 * environment would otherwise warn on every cold start. Every `CIRCUIT_BREAKER_*` string literal
 * in the packages' sources is checked against what core alone, and core with storage, register.
 */

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(file)
    return /\.ts$/.test(entry.name) && !/\.d\.ts$/.test(entry.name) ? [file] : []
  })
}

/** The variables the packages read: string literals in code, not the misspellings their comments show. */
function variablesReadByThePackages(): string[] {
  const names = new Set<string>()
  for (const pkg of readdirSync(path.join(ROOT, 'packages'))) {
    let files: string[]
    try {
      files = sourceFiles(path.join(ROOT, 'packages', pkg, 'src'))
    } catch {
      continue
    }
    for (const file of files) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (/^\s*(\*|\/\/|\/\*)/.test(line)) continue
        for (const match of line.matchAll(/['"`](CIRCUIT_BREAKER_[A-Z0-9_]*[A-Z0-9])['"`]/g)) names.add(match[1] ?? '')
      }
    }
  }
  return [...names].sort()
}

type Closest = (name: string) => string | undefined

describe('misspelt CIRCUIT_BREAKER_* variables', () => {
  const variables = variablesReadByThePackages()

  it('finds the variables the packages read', () => {
    expect(variables).toEqual(
      expect.arrayContaining([
        'CIRCUIT_BREAKER_FAILURE_THRESHOLD',
        'CIRCUIT_BREAKER_TABLE',
        'CIRCUIT_BREAKER_EXTENSION_PORT',
      ]),
    )
  })

  it.each([
    ['core alone', ['@fleet-breaker/core']],
    ['core and storage', ['@fleet-breaker/core', '@fleet-breaker/storage']],
  ])('reports none of them with %s loaded', async (_what, modules) => {
    let closest: Closest | undefined
    await jest.isolateModulesAsync(async () => {
      for (const name of modules) await import(name)
      closest = ((await import('@fleet-breaker/core')) as { closestKnownVariable: Closest }).closestKnownVariable
    })
    const reported = variables.filter((name) => closest?.(name) !== undefined)
    expect(reported.map((name) => `${name} -> ${closest?.(name)}`)).toEqual([])
    // The check itself works: a misspelling is still reported.
    expect(closest?.('CIRCUIT_BREAKER_FAILURE_TRESHOLD')).toBe('CIRCUIT_BREAKER_FAILURE_THRESHOLD')
  })
})

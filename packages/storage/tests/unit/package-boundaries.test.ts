import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'

/*
 * Subpath exports are package boundaries: importing the Redis store must never load the AWS SDK,
 * and importing the DynamoDB store must never load a Redis client. Checked on the import graph
 * of the sources, which the build mirrors file for file.
 */
const source = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

function importsOf(file: string): string[] {
  // Comments (TSDoc examples among them) are not imports.
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm),
    ...text.matchAll(/import\('([^']+)'\)/g),
  ]
  return specifiers.map((match) => match[1] as string)
}

/** Every package (not relative file) reachable from `entry` through static and literal dynamic imports. */
function reachablePackages(entry: string): Set<string> {
  const packages = new Set<string>()
  const seen = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
      else packages.add(specifier)
    }
  }
  visit(join(source, entry))
  return packages
}

function allSources(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name)
    return statSync(path).isDirectory() ? allSources(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('package boundaries', () => {
  it('keeps the AWS SDK out of the Redis entry point', () => {
    const reached = [...reachablePackages('redis/index.ts')]
    expect(reached.filter((name) => name.startsWith('@aws-sdk'))).toEqual([])
    expect(reached).not.toContain('ioredis')
    expect(reached).not.toContain('redis')
  })

  it('keeps Redis clients out of the DynamoDB entry point', () => {
    const reached = [...reachablePackages('dynamodb/index.ts')]
    expect(reached).not.toContain('ioredis')
    expect(reached).not.toContain('redis')
    expect(reached).toContain('@aws-sdk/client-dynamodb')
  })

  it('loads neither backend from the package root until a store is asked for', () => {
    const rootImports = importsOf(join(source, 'index.ts')).concat(importsOf(join(source, 'from-environment.ts')))
    expect(rootImports.filter((name) => name.startsWith('@aws-sdk') || name === 'ioredis' || name === 'redis')).toEqual(
      [],
    )
  })

  it('imports client libraries only where they belong', () => {
    for (const file of allSources(source)) {
      const packages = importsOf(file).filter((name) => !name.startsWith('.'))
      if (!file.includes('/dynamodb/')) expect(packages.filter((name) => name.startsWith('@aws-sdk'))).toEqual([])
    }
  })
})

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, freemem, platform, release, totalmem } from 'node:os'

const require = createRequire(import.meta.url)

/** The version of an installed package, as this benchmark package resolves it. */
export function packageVersion(name: string): string {
  try {
    const path = require.resolve(`${name}/package.json`)
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

/** What the figures were measured on. */
export function describeMachine(): Record<string, string> {
  const processors = cpus()
  return {
    os: `${platform()} ${release()}`,
    cpu: `${processors[0]?.model ?? 'unknown'} × ${processors.length}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    'node (running the suites)': process.version,
  }
}

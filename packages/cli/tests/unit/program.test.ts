import { readFile } from 'node:fs/promises'
import { buildProgram, VERSION } from '@fleet-breaker/cli'
import { describe, expect, it } from '@jest/globals'

describe('the fleet-breaker program', () => {
  it('reports the version of its package', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    expect(VERSION).toBe(manifest.version)
  })

  it('offers every command of the operator runbook', () => {
    expect(buildProgram().commands.map((command) => command.name())).toEqual([
      'list',
      'status',
      'open',
      'close',
      'clear',
      'reset',
      'shadow',
      'history',
      'watch',
    ])
  })
})

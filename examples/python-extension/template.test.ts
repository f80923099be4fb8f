import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from '@jest/globals'
import { validateTemplate } from '../sam/validate-template.js'

const here = dirname(fileURLToPath(import.meta.url))

it('the Python example template (layer, function, table, IAM) validates against the AWS resource specification', async () => {
  const template = readFileSync(resolve(here, 'template.yaml'), 'utf8')
  expect(await validateTemplate(template)).toEqual([])
  // The layer is the x86_64 single executable the package script builds, for an x86_64 function.
  expect(template).toContain('ContentUri: ../../packages/extension/layers/fleet-breaker-extension-x86_64.zip')
  expect(template).toMatch(/Architectures:\n\s+- x86_64/)
}, 60_000)

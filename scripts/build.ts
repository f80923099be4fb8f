/**
 * `pnpm build`: every package's own `build` script, dependencies first, two at a time. It calls
 * back into the pnpm that runs it (not one on PATH), so `corepack pnpm build` works on a machine
 * where Corepack is the only pnpm.
 */
import { spawnSync } from 'node:child_process'
import { pnpmCommand, ROOT } from './lib/packages.js'

const started = performance.now()
const [file, args] = pnpmCommand(['--recursive', '--workspace-concurrency=2', '--reporter=append-only', 'run', 'build'])
const { status } = spawnSync(file, args, { cwd: ROOT, stdio: 'inherit' })
console.log(`build: ${status === 0 ? 'done' : 'failed'} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
process.exitCode = status ?? 1

/**
 * The Lambda extension: what a check through loopback HTTP adds over the in-process breaker, how
 * many requests one extension serves per second, how long it takes from process start to
 * registered, and the layers' sizes.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
import { bundleExtension } from '../../packages/extension/scripts/bundle.js'
import {
  type ExtensionCommand,
  type ExtensionProcess,
  launchExtension,
} from '../../packages/extension/tests/support/extension-process.js'
import { startLambdaEmulator } from '../../test-support/lambda-runtime-emulator.js'
import { table } from '../lib/markdown.js'
import { formatSummary, quantile, type Summary, summarise } from '../lib/stats.js'
import type { Suite, TargetCheck } from '../lib/suite.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const layersDir = join(root, 'packages/extension/layers')

interface Plan {
  readonly latencyCalls: number
  readonly throughputMs: number
  readonly concurrency: number
  readonly starts: number
}
const FULL: Plan = { latencyCalls: 5_000, throughputMs: 5_000, concurrency: 32, starts: 10 }
const QUICK: Plan = { latencyCalls: 300, throughputMs: 500, concurrency: 16, starts: 2 }

/** circuitbreaker-lambda's own figures, as its author's write-up publishes them (Performance section). */
const PUBLISHED = {
  source:
    'the circuitbreaker-lambda write-up ("Performance": 50 warm and forced cold invocations per configuration, 512 MB, ' +
    'a shared DynamoDB table); it publishes no layer sizes',
  coldStart: [
    ['Baseline (no circuit breaker)', '1300 ms', '—'],
    ['npm package (Node.js)', '1353 ms', '+4%'],
    ['Lambda Layer (Node.js)', '1679 ms', '+29% (+379 ms)'],
    ['Lambda Layer (Python)', '1541 ms', '+18% (+241 ms)'],
  ],
} as const

interface Layer {
  readonly name: string
  readonly zipBytes: number
  readonly unzippedBytes: number
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 })

function http(
  port: number,
  method: string,
  path: string,
  agent: Agent | false = keepAlive,
): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolvePromise(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Microseconds per round of `action`, one after another. */
async function timeEach(calls: number, action: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(200, calls); i++) await action()
  const samples: number[] = []
  for (let i = 0; i < calls; i++) {
    const startedAt = process.hrtime.bigint()
    await action()
    samples.push(Number(process.hrtime.bigint() - startedAt) / 1_000)
  }
  return samples
}

const us = (value: number) => (value >= 1_000 ? `${(value / 1_000).toFixed(2)} ms` : `${value.toFixed(1)} µs`)
const MB = (bytes: number) => `${(bytes / 1_000_000).toFixed(2)} MB`

function layersFromManifest(): Layer[] | undefined {
  const manifest = join(layersDir, 'manifest.json')
  if (!existsSync(manifest)) return undefined
  const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { artefacts: Layer[] }
  return parsed.artefacts
}

function singleExecutable(): ExtensionCommand | undefined {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
  const file = join(layersDir, `sea-${arch}`, 'extensions', 'fleet-breaker')
  return existsSync(file) ? { label: `single executable (${arch})`, file, args: [] } : undefined
}

async function measureStarts(command: ExtensionCommand, starts: number): Promise<{ own: Summary; spawn: Summary }> {
  const own: number[] = []
  const spawned: number[] = []
  for (let i = 0; i < starts; i++) {
    const lambda = await startLambdaEmulator()
    let extension: ExtensionProcess | undefined
    try {
      extension = await launchExtension(command, lambda)
      own.push(extension.startToRegisteredMs)
      spawned.push(extension.spawnToRegisteredMs)
    } finally {
      await extension?.kill()
      await lambda.stop()
    }
  }
  return { own: summarise(own), spawn: summarise(spawned) }
}

export const extension: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const dir = await mkdtemp(join(tmpdir(), 'fleet-breaker-bench-extension-'))
  const bundlePath = join(dir, 'extension.cjs')
  const bundle = await bundleExtension(bundlePath)
  const bundled: ExtensionCommand = { label: 'bundled JS (node)', file: process.execPath, args: [bundlePath] }
  const lambda = await startLambdaEmulator()
  let server: ExtensionProcess | undefined
  try {
    // Default options, the cache on: a healthy circuit's check is decided without a store request,
    // so the figures are the extension's own cost (HTTP on loopback, the permit kept and settled).
    server = await launchExtension(bundled, lambda, { CIRCUIT_BREAKER_STORE: 'memory' })
    await lambda.invoke({ timeoutMs: 3_600_000 })
    const port = server.port

    const breaker = new CircuitBreaker({ circuitId: 'bench', store: new MemoryStore() })
    const inProcess = await timeEach(plan.latencyCalls, async () => {
      const admission = await breaker.admit()
      if (admission.admitted) await admission.permit.recordSuccess()
    })
    const permitFlow = await timeEach(plan.latencyCalls, async () => {
      const admitted = await http(port, 'POST', '/circuit/bench/admit')
      await http(port, 'POST', `/permits/${admitted.permit}/success`)
    })
    const compatFlow = await timeEach(plan.latencyCalls, async () => {
      await http(port, 'GET', '/circuit/bench-compat')
      await http(port, 'POST', '/circuit/bench-compat/success')
    })
    const checkOnly = await timeEach(plan.latencyCalls, () => http(port, 'GET', '/circuit/bench-compat/state'))
    const freshConnection = await timeEach(Math.min(plan.latencyCalls, 1_000), async () => {
      const admitted = await http(port, 'POST', '/circuit/bench/admit', false)
      await http(port, 'POST', `/permits/${admitted.permit}/success`, false)
    })
    const rows = [
      ['in-process breaker (`admit()` + `recordSuccess()`)', inProcess],
      ['extension, permit API (admit + success), keep-alive', permitFlow],
      ['extension, compatible API (check + success), keep-alive', compatFlow],
      ['extension, permit API, a new connection per request (as urllib)', freshConnection],
      ['extension, one request (`GET /circuit/{id}/state`), keep-alive', checkOnly],
    ] as const
    for (const [label, samples] of rows)
      log(`${label}: p50 ${us(quantile(samples, 0.5))}, p99 ${us(quantile(samples, 0.99))}`)

    // Throughput: `concurrency` clients, each admitting and settling in a loop.
    let requests = 0
    const until = performance.now() + plan.throughputMs
    const startedAt = performance.now()
    await Promise.all(
      Array.from({ length: plan.concurrency }, async () => {
        while (performance.now() < until) {
          const admitted = await http(port, 'POST', '/circuit/bench-rps/admit')
          await http(port, 'POST', `/permits/${admitted.permit}/success`)
          requests += 2
        }
      }),
    )
    const requestsPerSecond = requests / ((performance.now() - startedAt) / 1_000)
    log(`throughput: ${Math.round(requestsPerSecond)} requests/s with ${plan.concurrency} concurrent clients`)

    await server.kill()
    server = undefined
    const starts: Array<[string, { own: Summary; spawn: Summary }]> = [
      [bundled.label, await measureStarts(bundled, plan.starts)],
    ]
    const sea = singleExecutable()
    if (sea !== undefined) starts.push([sea.label, await measureStarts(sea, plan.starts)])
    for (const [label, figures] of starts) log(`${label}: start to registered ${formatSummary(figures.own, 1, ' ms')}`)

    const layers = layersFromManifest()
    const addedP50 = quantile(permitFlow, 0.5) - quantile(inProcess, 0.5)
    const addedP99 = quantile(permitFlow, 0.99) - quantile(inProcess, 0.99)
    const checks: TargetCheck[] = [
      {
        target: 'a check and its outcome through the extension add under 1 ms at p50 on loopback (keep-alive)',
        met: addedP50 < 1_000,
        detail: `+${us(addedP50)} p50, +${us(addedP99)} p99`,
      },
      {
        target: 'the bundled extension registers within 500 ms of its process start (median)',
        met: (starts[0]?.[1].own.median ?? Number.POSITIVE_INFINITY) < 500,
        detail: formatSummary(starts[0]?.[1].own ?? summarise([Number.NaN]), 1, ' ms'),
      },
      {
        target: 'the x86_64 layer fits a direct upload (under 50 MB zipped)',
        met:
          layers?.find((layer) => layer.name.includes('x86_64')) === undefined
            ? true
            : (layers.find((layer) => layer.name.includes('x86_64'))?.zipBytes ?? 0) < 50_000_000,
        detail:
          layers === undefined
            ? 'layers not built'
            : MB(layers.find((layer) => layer.name.includes('x86_64'))?.zipBytes ?? 0),
      },
    ]
    const markdown = [
      'The extension bundled by esbuild (everything in one CommonJS file, as in the Node.js layer), run ' +
        'by `node` against an emulator of the Lambda Extensions API, the store in memory and the cache on ' +
        "(so a healthy check needs no store request: the figures are the extension's own). Each flow is " +
        `timed ${plan.latencyCalls} times in a row after a warm-up, from this process over loopback HTTP/1.1 ` +
        "(keep-alive, as Node's fetch; or a new connection per request, as Python's urllib); the in-process " +
        'breaker runs the same admit-and-settle in this process.',
      '',
      table(
        ['flow', 'p50', 'p99'],
        rows.map(([label, samples]) => [label, us(quantile(samples, 0.5)), us(quantile(samples, 0.99))]),
      ),
      '',
      `A check and its outcome through the extension add ${us(addedP50)} at p50 and ${us(addedP99)} at p99 over ` +
        "the in-process breaker. On Lambda the function and the extension share the environment's CPU " +
        "share, which is smaller than this machine's at low memory sizes.",
      '',
      `Throughput: one extension served ${Math.round(requestsPerSecond)} requests per second ` +
        `(${Math.round(requestsPerSecond / 2)} admit-and-settle pairs) to ${plan.concurrency} concurrent keep-alive ` +
        `clients for ${plan.throughputMs / 1_000} s.`,
      '',
      `Start to registered (${plan.starts} launches each; the extension's own figure, from its process start, ` +
        "and from this process's spawn):",
      '',
      table(
        ['extension', 'process start → registered', 'spawn → registered'],
        starts.map(([label, figures]) => [
          label,
          formatSummary(figures.own, 1, ' ms'),
          formatSummary(figures.spawn, 1, ' ms'),
        ]),
      ),
      '',
      `Layers (from \`pnpm --filter @fleet-breaker/extension package\`; the bundle alone is ${MB(bundle.bytes)}):`,
      '',
      layers === undefined
        ? '_Not built in this run: run `pnpm --filter @fleet-breaker/extension package` first._'
        : table(
            ['layer zip', 'zipped', 'unzipped'],
            layers.map((layer) => [layer.name, MB(layer.zipBytes), MB(layer.unzippedBytes)]),
          ),
      '',
      `circuitbreaker-lambda's published cold starts, quoted as published by ${PUBLISHED.source}:`,
      '',
      table(
        ['configuration', 'cold start', 'vs. baseline'],
        PUBLISHED.coldStart.map((row) => [...row]),
      ),
      '',
      'These are whole-function cold starts on Lambda, not comparable one-for-one with the ' +
        'start-to-registered times above, which are measured on this machine for the extension alone.',
    ].join('\n')
    return {
      id: 'extension',
      title: 'Lambda extension',
      markdown,
      checks,
      data: {
        plan,
        bundleBytes: bundle.bytes,
        latencyMicros: Object.fromEntries(
          rows.map(([label, samples]) => [label, { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) }]),
        ),
        requestsPerSecond,
        starts: Object.fromEntries(starts),
        layers: layers ?? null,
      },
      headlines: [
        `Extension: a check and its outcome over loopback add ${us(addedP50)} (p50) to the in-process breaker; ` +
          `one extension serves ${Math.round(requestsPerSecond)} requests/s; it registers ` +
          `${(starts[0]?.[1].own.median ?? 0).toFixed(0)} ms after its process starts.`,
      ],
    }
  } finally {
    await server?.kill()
    await lambda.stop()
    keepAlive.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}

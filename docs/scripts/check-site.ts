/*
 * `pnpm --filter @fleet-breaker/docs docs:check`: checks the built site.
 * - Every internal link and asset of every page (the API reference's included) resolves to a file
 *   of the build, and every `#anchor` to an element of the page it names.
 * - The home page and an API page load in headless Chromium (Debian's `chromium`, or
 *   CHROMIUM_PATH) without a console error, a page error or a failed request.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, relative } from 'node:path'
import { chromium } from 'playwright-core'
import { DOCS_DIR } from './generate.js'

const DIST = join(DOCS_DIR, '.vitepress/dist')

function htmlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return htmlFiles(path)
    return entry.name.endsWith('.html') ? [path] : []
  })
}

/** The file a site path is served from, as VitePress's clean URLs map it. */
function fileOf(sitePath: string): string | undefined {
  const path = decodeURIComponent(sitePath.replace(/[?#].*$/, ''))
  const candidates = path.endsWith('/')
    ? [join(DIST, path, 'index.html')]
    : [join(DIST, path), join(DIST, `${path}.html`), join(DIST, path, 'index.html')]
  return candidates.find((file) => existsSync(file) && statSync(file).isFile())
}

const idsCache = new Map<string, Set<string>>()
function idsOf(file: string): Set<string> {
  let ids = idsCache.get(file)
  if (ids === undefined) {
    const html = readFileSync(file, 'utf8')
    ids = new Set([...html.matchAll(/\s(?:id|name)="([^"]+)"/g)].map((match) => match[1] ?? ''))
    idsCache.set(file, ids)
  }
  return ids
}

/** Every broken internal link of the build, as `page: link (why)`. */
export function brokenLinks(): { checked: number; broken: string[] } {
  const broken: string[] = []
  let checked = 0
  for (const file of htmlFiles(DIST)) {
    const html = readFileSync(file, 'utf8')
    const page = `/${relative(DIST, file).replace(/\\/g, '/')}`
    for (const match of html.matchAll(/\s(?:href|src)="([^"]+)"/g)) {
      const link = (match[1] ?? '').replace(/&amp;/g, '&')
      if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(link)) continue
      checked++
      const [path = '', anchor] = link.split('#', 2)
      const target = path === '' ? file : fileOf(path.startsWith('/') ? path : join(page, '..', path))
      if (target === undefined) {
        broken.push(`${page}: ${link} (no such page or file)`)
        continue
      }
      if (
        anchor !== undefined &&
        anchor !== '' &&
        target.endsWith('.html') &&
        !idsOf(target).has(decodeURIComponent(anchor))
      ) {
        broken.push(`${page}: ${link} (no element with id "${anchor}")`)
      }
    }
  }
  return { checked, broken }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
}

/** Serves the build on a free loopback port, with VitePress's clean URLs. */
async function serve(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const file = fileOf(new URL(request.url ?? '/', 'http://localhost').pathname)
    if (file === undefined) {
      response.writeHead(404).end('not found')
      return
    }
    response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' })
    response.end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Flags for a headless Chromium that talks to nothing but the page under test. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Loads each page in Chromium; returns the problems seen (console errors, page errors, failed requests). */
export async function renderPages(paths: readonly string[]): Promise<string[]> {
  const site = await serve()
  const profile = mkdtempSync(join(tmpdir(), 'fleet-breaker-docs-chromium-'))
  // A fresh profile (--user-data-dir) of its own, removed afterwards.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  })
  const problems: string[] = []
  try {
    for (const path of paths) {
      const page = await browser.newPage()
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`${path}: console error: ${message.text()}`)
      })
      page.on('pageerror', (error) => problems.push(`${path}: page error: ${error.message}`))
      page.on('requestfailed', (request) => problems.push(`${path}: request failed: ${request.url()}`))
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${path}: HTTP ${response.status()} for ${response.url()}`)
      })
      const response = await page.goto(`${site.url}${path}`, { waitUntil: 'networkidle', timeout: 60_000 })
      if (response?.status() !== 200) problems.push(`${path}: HTTP ${response?.status()}`)
      // Hydrated: the theme's navigation bar and the page's first heading are on screen.
      await page.waitForSelector('.VPNav', { timeout: 30_000 })
      const heading = await page.locator('h1').first().textContent({ timeout: 30_000 })
      if (heading === null || heading.trim() === '') problems.push(`${path}: no heading rendered`)
      console.log(`docs: ${path} rendered in Chromium ("${heading?.trim()}")`)
      await page.close()
    }
  } finally {
    await browser.close()
    await site.close()
    rmSync(profile, { recursive: true, force: true })
  }
  return problems
}

if (!existsSync(join(DIST, 'index.html'))) {
  console.error('docs: no build in docs/.vitepress/dist; run `pnpm docs` first')
  process.exit(1)
}
const { checked, broken } = brokenLinks()
console.log(`docs: ${checked} internal links checked, ${broken.length} broken`)
for (const link of broken) console.error(`  ${link}`)
const problems = await renderPages(['/', '/api/@fleet-breaker/core/classes/CircuitBreaker'])
for (const problem of problems) console.error(`  ${problem}`)
process.exit(broken.length === 0 && problems.length === 0 ? 0 : 1)

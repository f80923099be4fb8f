/*
 * Generates the site's pages into docs/site from the repository as it is now: one page per
 * package (from its README, whatever packages exist), one per store, the guides assembled from
 * README sections, the benchmarks from BENCHMARKS.md, and the API reference from the TSDoc
 * (TypeDoc with typedoc-plugin-markdown). Nothing is copied by hand, so no page can go stale.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sectionMatching, sectionsOf, shiftHeadings, transformProse, withoutTitle } from './markdown.js'
import { apiEntryPoints, type PackageInfo, readPackages } from './packages.js'
import { generateApiReference } from './typedoc.js'

export const DOCS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO_DIR = resolve(DOCS_DIR, '..')
export const SITE_DIR = join(DOCS_DIR, 'site')

/** Where a file that has no page of its own is linked to: the repository's web view, if known. */
function repositoryUrl(): string {
  const root = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as {
    repository?: string | { url?: string }
    homepage?: string
  }
  const declared = typeof root.repository === 'string' ? root.repository : root.repository?.url
  const url = (declared ?? 'https://github.com/fleet-breaker/fleet-breaker')
    .replace(/^git\+/, '')
    .replace(/\.git$/, '')
    .replace(/^github:/, 'https://github.com/')
  return url
}

/** A page of the site: where it goes and what it says. */
interface Page {
  /** Path under the site, without `.md`: `packages/core`, `guide/concepts`. */
  readonly path: string
  readonly title: string
  readonly markdown: string
}

/** Which repository files have a page of their own, so links to them stay on the site. */
type PageOf = Map<string, string>

/**
 * The link rewriter for text taken from `source` (a path relative to the repository): a link to a
 * file with a page goes to the page (anchor kept), an image is copied into the site, anything else
 * in the repository goes to its web view; anchors within the source point at its full page.
 */
function linkRewriter(source: string, pageOf: PageOf, assets: Map<string, string>, webUrl: string) {
  const sourceDir = posix.dirname(source)
  return (target: string): string => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return target
    const [file = '', anchor] = target.split('#', 2)
    const hash = anchor === undefined ? '' : `#${anchor}`
    if (file === '') {
      const page = pageOf.get(source)
      return page === undefined ? target : `/${page}${hash}`
    }
    const repoPath = posix.normalize(posix.join(sourceDir, file)).replace(/\/$/, '')
    const page = pageOf.get(repoPath) ?? pageOf.get(posix.join(repoPath, 'README.md'))
    if (page !== undefined) return `/${page}${hash}`
    if (/\.(svg|png|jpe?g|gif|webp)$/i.test(repoPath) && existsSync(join(REPO_DIR, repoPath))) {
      const name = `${repoPath.replace(/[^a-z0-9.]+/gi, '-')}`
      assets.set(repoPath, name)
      return `/media/${name}`
    }
    const kind = existsSync(join(REPO_DIR, repoPath)) && !/\.[a-z]+$/i.test(basename(repoPath)) ? 'tree' : 'blob'
    return `${webUrl}/${kind}/main/${repoPath}${hash}`
  }
}

function page(path: string, title: string, body: string, intro?: string): Page {
  const parts = [`# ${title}`, '', ...(intro === undefined ? [] : [intro, '']), body.trim(), '']
  return { path, title, markdown: parts.join('\n') }
}

function read(path: string): string {
  return readFileSync(join(REPO_DIR, path), 'utf8')
}

/** Sections of a README whose titles match, each moved to `##`. */
function sections(markdown: string, titles: RegExp): string {
  return sectionsOf(markdown, 2)
    .filter((section) => titles.test(section.title))
    .map((section) => section.text)
    .join('\n\n')
}

/** The body of a README without its title and its install block (the site's pages show both elsewhere). */
function readmeBody(markdown: string): string {
  return withoutTitle(markdown)
}

/** The `##` section of `markdown` whose title matches, as a `##` section, or a note if it is gone. */
function section(markdown: string, title: RegExp, source: string): string {
  const found = sectionMatching(markdown, 2, title)
  if (found === undefined) throw new Error(`docs: no section matching ${title} in ${source}`)
  return found.text
}

export interface Generated {
  readonly pages: readonly Page[]
  readonly packages: readonly PackageInfo[]
  readonly stores: ReadonlyArray<{ path: string; title: string }>
}

/** Writes every page, the sidebar and the assets into docs/site. */
export async function generate(): Promise<Generated> {
  const webUrl = repositoryUrl()
  const packages = readPackages(REPO_DIR)
  // Guides written as Markdown files in docs/ (the operator's runbook, say) become pages as they are.
  const guides = readdirSync(DOCS_DIR)
    .filter((name) => name.endsWith('.md') && name !== 'README.md')
    .sort()
    .map((name) => {
      const markdown = readFileSync(join(DOCS_DIR, name), 'utf8')
      const title = /^#\s+(.*)$/m.exec(markdown)?.[1]?.trim() ?? basename(name, '.md')
      return { source: `docs/${name}`, path: `guide/${basename(name, '.md')}`, title, markdown }
    })
  const pageOf: PageOf = new Map([
    ['README.md', 'guide/getting-started'],
    ['BENCHMARKS.md', 'benchmarks'],
    ...packages.map((info): [string, string] => [`${info.dir}/README.md`, `packages/${info.slug}`]),
    ...guides.map((guide): [string, string] => [guide.source, guide.path]),
  ])
  const assets = new Map<string, string>()
  const rewrite = (source: string, markdown: string) =>
    transformProse(markdown, linkRewriter(source, pageOf, assets, webUrl))

  const root = read('README.md')
  const core = existsSync(join(REPO_DIR, 'packages/core/README.md')) ? read('packages/core/README.md') : ''
  const storage = existsSync(join(REPO_DIR, 'packages/storage/README.md')) ? read('packages/storage/README.md') : ''
  const benchmarks = read('BENCHMARKS.md')

  const pages: Page[] = []
  pages.push(
    page(
      'guide/getting-started',
      'Getting started',
      rewrite(
        'README.md',
        [section(root, /^Try it/, 'README.md'), sections(root, /^(Install|Quick start)/)].join('\n\n'),
      ),
      rewrite('README.md', withoutTitle(root).split('\n## ')[0] ?? ''),
    ),
  )
  pages.push(
    page(
      'guide/concepts',
      'Concepts',
      [
        rewrite(
          'README.md',
          shiftHeadings(section(root, /^Why/, 'README.md'), 0).replace(/^## Why/, '## Why shared state'),
        ),
        rewrite('packages/core/README.md', section(core, /fleet guarantees/i, 'packages/core/README.md')),
        rewrite('packages/core/README.md', sections(core, /^(How a call goes|When the circuit opens)/)),
      ].join('\n\n'),
    ),
  )
  pages.push(
    page(
      'guide/operations',
      'Operations',
      [
        rewrite(
          'packages/core/README.md',
          sections(core, /^(Manual control|The local state cache|When the store is slow or down)/),
        ),
        rewrite('packages/storage/README.md', section(storage, /^Requests per path/, 'packages/storage/README.md')),
        rewrite('BENCHMARKS.md', section(benchmarks, /store cost/i, 'BENCHMARKS.md')),
      ].join('\n\n'),
      'Overrides, store outages and what each invocation costs in store requests, from the core and storage READMEs and the measured benchmarks.',
    ),
  )
  pages.push(page('benchmarks', 'Benchmarks', rewrite('BENCHMARKS.md', withoutTitle(benchmarks))))
  for (const guide of guides) {
    pages.push(page(guide.path, guide.title, rewrite(guide.source, withoutTitle(guide.markdown))))
  }

  for (const info of packages) {
    const body = rewrite(`${info.dir}/README.md`, readmeBody(read(`${info.dir}/README.md`)))
    pages.push(page(`packages/${info.slug}`, info.name, body, info.description))
  }

  // One page per store: the storage README's section on each backend (MemoryStore's is in core's).
  const stores: Array<{ path: string; title: string }> = []
  const storeSections: Array<[string, string, RegExp, string]> = [
    ['stores/dynamodb', 'DynamoDB store', /^DynamoDBStore/, 'packages/storage/README.md'],
    ['stores/redis', 'Redis and Valkey store', /^RedisStore/, 'packages/storage/README.md'],
    ['stores/environment', 'A store from the environment', /^From the environment/, 'packages/storage/README.md'],
    ['stores/memory', 'Memory store', /^MemoryStore/, 'packages/core/README.md'],
  ]
  for (const [path, title, heading, source] of storeSections) {
    const found = sectionMatching(source === 'packages/core/README.md' ? core : storage, 2, heading)
    if (found === undefined) continue
    stores.push({ path, title })
    pages.push(page(path, title, rewrite(source, shiftHeadings(found.text.split('\n').slice(1).join('\n'), -1))))
  }

  await rm(SITE_DIR, { recursive: true, force: true })
  for (const generated of pages) {
    const file = join(SITE_DIR, `${generated.path}.md`)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, generated.markdown)
  }
  await writeFile(join(SITE_DIR, 'index.md'), homePage(packages))
  await mkdir(join(SITE_DIR, 'public/media'), { recursive: true })
  for (const [from, name] of assets) await copyFile(join(REPO_DIR, from), join(SITE_DIR, 'public/media', name))

  await generateApiReference({
    repoDir: REPO_DIR,
    outDir: join(SITE_DIR, 'api'),
    workDir: join(SITE_DIR, '.api-entries'),
    entries: apiEntryPoints(REPO_DIR, packages),
  })
  await writeFile(join(SITE_DIR, 'sidebar.json'), JSON.stringify(sidebar(packages, stores, guides), null, 2))
  return { pages, packages, stores }
}

function homePage(packages: readonly PackageInfo[]): string {
  const features = packages
    .map(
      (info) =>
        `  - title: ${JSON.stringify(info.name)}\n    details: ${JSON.stringify(info.description)}\n    link: /packages/${info.slug}`,
    )
    .join('\n')
  return `---
layout: home
hero:
  name: fleet-breaker
  text: A circuit breaker for AWS Lambda
  tagline: One circuit state shared by the whole fleet of execution environments, in DynamoDB or Redis.
  actions:
    - theme: brand
      text: Get started
      link: /guide/getting-started
    - theme: alt
      text: Concepts
      link: /guide/concepts
    - theme: alt
      text: API reference
      link: /api/
features:
${features}
---
`
}

interface SidebarItem {
  readonly text: string
  readonly link?: string
  readonly items?: readonly SidebarItem[]
  readonly collapsed?: boolean
}

function sidebar(
  packages: readonly PackageInfo[],
  stores: ReadonlyArray<{ path: string; title: string }>,
  guides: ReadonlyArray<{ path: string; title: string }>,
): SidebarItem[] {
  return [
    {
      text: 'Guide',
      items: [
        { text: 'Getting started', link: '/guide/getting-started' },
        { text: 'Concepts', link: '/guide/concepts' },
        ...(packages.some((info) => info.slug === 'middy') ? [{ text: 'Middy', link: '/packages/middy' }] : []),
        { text: 'Operations', link: '/guide/operations' },
        ...guides.map((guide) => ({ text: guide.title, link: `/${guide.path}` })),
        { text: 'Benchmarks', link: '/benchmarks' },
      ],
    },
    { text: 'Packages', items: packages.map((info) => ({ text: info.name, link: `/packages/${info.slug}` })) },
    { text: 'Stores', items: stores.map((store) => ({ text: store.title, link: `/${store.path}` })) },
    { text: 'API reference', link: '/api/' },
  ]
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { pages, packages } = await generate()
  console.log(`docs: ${pages.length} pages, ${packages.length} packages (${relative(REPO_DIR, SITE_DIR)})`)
}

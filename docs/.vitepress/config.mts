import { readFileSync } from 'node:fs'
import { defineConfig } from 'vitepress'

// The pages and the sidebar are generated into ../site by scripts/generate.ts on every build.
const sidebar = JSON.parse(readFileSync(new URL('../site/sidebar.json', import.meta.url), 'utf8'))

/**
 * Heading ids as GitHub makes them, so the READMEs' own `#anchor` links work on the site as they
 * do on GitHub and npm: lower case, punctuation dropped, each space a hyphen.
 */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

export default defineConfig({
  title: 'fleet-breaker',
  description: 'A circuit breaker for AWS Lambda whose state is shared by the whole fleet of execution environments',
  srcDir: 'site',
  srcExclude: ['.api-entries/**'],
  cleanUrls: true,
  // No favicon of its own: an empty one, so browsers do not ask for /favicon.ico.
  head: [['link', { rel: 'icon', href: 'data:,' }]],
  lastUpdated: false,
  // A dead link anywhere, the generated API reference included, fails the build.
  ignoreDeadLinks: false,
  // The local search index of the API reference is one large chunk; it loads only when searching.
  vite: { build: { chunkSizeWarningLimit: 4_000 } },
  markdown: { anchor: { slugify: githubSlug } },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'Packages', link: '/packages/core' },
      { text: 'API', link: '/api/' },
      { text: 'Benchmarks', link: '/benchmarks' },
    ],
    sidebar,
    search: { provider: 'local' },
    outline: [2, 3],
  },
})

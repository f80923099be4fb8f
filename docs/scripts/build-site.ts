/*
 * `pnpm docs`: generates the pages from the READMEs and the TSDoc, then builds the site with
 * VitePress into docs/.vitepress/dist. VitePress fails the build on a dead link.
 */
import { build } from 'vitepress'
import { DOCS_DIR, generate } from './generate.js'

const started = Date.now()
const { pages, packages } = await generate()
console.log(`docs: generated ${pages.length} pages for ${packages.length} packages, and the API reference`)
await build(DOCS_DIR)
console.log(`docs: built docs/.vitepress/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`)

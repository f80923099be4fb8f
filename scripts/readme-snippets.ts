/**
 * `pnpm readme-snippets`: writes every ```ts block of every README (the root's and each package's)
 * to tests/consumers/readme-snippets/, where `pnpm check:consumers` compiles them against the packed
 * packages, so a README cannot show code that does not compile. A block preceded by the line
 * `<!-- fragment -->` is a deliberate fragment and is skipped.
 *
 * `pnpm readme-snippets --check` writes nothing and exits 1 when the files there are not what the
 * READMEs say (CI runs it).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './lib/packages.js'
import { snippetsOf } from './lib/readme-snippets.js'

const SNIPPETS_DIR = path.join(ROOT, 'tests/consumers/readme-snippets')

function readmes(): string[] {
  const packages = readdirSync(path.join(ROOT, 'packages'))
    .sort()
    .map((name) => path.join('packages', name, 'README.md'))
  return ['README.md', ...packages].filter((readme) => existsSync(path.join(ROOT, readme)))
}

const check = process.argv.includes('--check')
const wanted = new Map(
  readmes().flatMap((readme) =>
    snippetsOf(readme, readFileSync(path.join(ROOT, readme), 'utf8')).map((s) => [s.file, s.source] as const),
  ),
)
const present = existsSync(SNIPPETS_DIR) ? readdirSync(SNIPPETS_DIR).filter((file) => file.endsWith('.ts')) : []
const stale = [
  ...present.filter((file) => !wanted.has(file)),
  ...[...wanted]
    .filter(
      ([file, source]) =>
        !existsSync(path.join(SNIPPETS_DIR, file)) || readFileSync(path.join(SNIPPETS_DIR, file), 'utf8') !== source,
    )
    .map(([file]) => file),
]
if (check) {
  if (stale.length > 0) {
    console.error(
      `readme-snippets: ${stale.join(', ')} differ from the READMEs; run pnpm readme-snippets and commit the result`,
    )
    process.exitCode = 1
  } else {
    console.log(`readme-snippets: ${wanted.size} README snippets are up to date`)
  }
} else {
  mkdirSync(SNIPPETS_DIR, { recursive: true })
  for (const file of present) if (!wanted.has(file)) rmSync(path.join(SNIPPETS_DIR, file))
  for (const [file, source] of wanted) writeFileSync(path.join(SNIPPETS_DIR, file), source)
  console.log(`readme-snippets: wrote ${wanted.size} README snippets (${stale.length} changed)`)
}

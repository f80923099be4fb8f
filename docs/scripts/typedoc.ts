/*
 * The API reference: TypeDoc over every public entry point, rendered as Markdown by
 * typedoc-plugin-markdown so that VitePress builds it with the rest of the site (and fails on a
 * dead link in it as in any other page).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Application, type TypeDocOptions } from 'typedoc'
import type { PluginOptions } from 'typedoc-plugin-markdown'
import type { ApiEntry } from './packages.js'

export interface ApiReferenceOptions {
  readonly repoDir: string
  readonly outDir: string
  /** Where the one-line entry modules and their tsconfig are written. */
  readonly workDir: string
  readonly entries: readonly ApiEntry[]
}

/**
 * Each entry point becomes a module named as users import it (`@fleet-breaker/storage/redis`):
 * a small module re-exports the package's source under a `@module` tag, so the sources need no
 * TypeDoc-specific comment.
 */
async function writeEntryModules(options: ApiReferenceOptions): Promise<string[]> {
  await rm(options.workDir, { recursive: true, force: true })
  await mkdir(options.workDir, { recursive: true })
  const files: string[] = []
  for (const entry of options.entries) {
    const file = join(options.workDir, `${entry.module.replace(/^@/, '').replace(/[/]/g, '__')}.ts`)
    const from = relative(options.workDir, entry.source).replace(/\\/g, '/').replace(/\.ts$/, '.js')
    await writeFile(
      file,
      `/**\n * The public API of \`${entry.module}\`.\n *\n * @packageDocumentation\n * @module ${entry.module}\n */\nexport * from '${from.startsWith('.') ? from : `./${from}`}'\n`,
    )
    files.push(file)
  }
  await writeFile(
    join(options.workDir, 'tsconfig.json'),
    JSON.stringify(
      {
        extends: relative(options.workDir, join(options.repoDir, 'tsconfig.json')).replace(/\\/g, '/'),
        compilerOptions: { noEmit: true, rootDir: options.repoDir },
        include: ['*.ts'],
      },
      null,
      2,
    ),
  )
  return files
}

/** Generates the reference; throws if TypeDoc reports an error (a broken `{@link}`, say). */
export async function generateApiReference(options: ApiReferenceOptions): Promise<void> {
  const entryPoints = await writeEntryModules(options)
  const typedocOptions: Partial<TypeDocOptions & PluginOptions> = {
    entryPoints,
    tsconfig: join(options.workDir, 'tsconfig.json'),
    out: options.outDir,
    plugin: ['typedoc-plugin-markdown'],
    readme: 'none',
    name: 'API reference',
    excludePrivate: true,
    excludeInternal: true,
    excludeExternals: true,
    disableSources: true,
    hidePageHeader: true,
    hideBreadcrumbs: true,
    entryFileName: 'index',
    useCodeBlocks: true,
    parametersFormat: 'table',
    interfacePropertiesFormat: 'table',
    classPropertiesFormat: 'table',
    // The reference is built from the sources, which the rest of CI type-checks.
    skipErrorChecking: true,
    validation: { notExported: false, invalidLink: true, rewrittenLink: true },
    treatValidationWarningsAsErrors: false,
    logLevel: 'Warn',
  }
  const app = await Application.bootstrapWithPlugins(typedocOptions as Partial<TypeDocOptions>)
  const project = await app.convert()
  if (project === undefined || app.logger.hasErrors()) throw new Error('docs: TypeDoc could not convert the sources')
  await app.generateOutputs(project)
  if (app.logger.hasErrors()) throw new Error('docs: TypeDoc reported errors')
}

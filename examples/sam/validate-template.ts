import { readFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import { checkReferences } from './validator/check-references.js'
import { checkStructure } from './validator/check-template.js'
import { parseTemplateYaml } from './validator/parse-yaml.js'
import type { TemplateProblem } from './validator/problem.js'
import { Spec } from './validator/spec.js'
import { isMapping } from './validator/values.js'

export { parseTemplateYaml } from './validator/parse-yaml.js'
export type { TemplateProblem } from './validator/problem.js'

/**
 * Validates a CloudFormation or SAM template written in YAML against the AWS resource
 * specification (`@aws-cdk/aws-service-spec`): its sections, resource types, properties and their
 * types, SAM `Globals` and function events, and every name it refers to.
 *
 * @param templateText the template's YAML text; short-form tags such as `!Ref` are understood
 * @returns the problems found, in template order within each kind of check; empty when the template is valid
 */
export async function validateTemplate(templateText: string): Promise<TemplateProblem[]> {
  const { template, problems } = parseTemplateYaml(templateText)
  if (template === undefined) return problems
  if (!isMapping(template)) return [...problems, { path: '', message: 'a template must be a YAML mapping' }]
  const spec = await Spec.load()
  return [...problems, ...checkStructure(template, spec), ...checkReferences(template, spec)]
}

/** Validates the template file named on the command line; exits 1 when it has problems. */
async function main(args: readonly string[]): Promise<number> {
  const file = args[0]
  if (file === undefined || args.length > 1) {
    console.error('usage: tsx examples/sam/validate-template.ts <template.yaml>')
    return 2
  }
  const started = performance.now()
  const problems = await validateTemplate(await readFile(file, 'utf8'))
  const elapsed = Math.round(performance.now() - started)
  for (const problem of problems) console.error(`${file}: ${problem.path}: ${problem.message}`)
  if (problems.length > 0) {
    console.error(`${file}: ${problems.length} problem(s) found in ${elapsed} ms`)
    return 1
  }
  console.log(`OK: ${file} is a valid template (${elapsed} ms)`)
  return 0
}

const entryPoint = process.argv[1]
if (entryPoint !== undefined && import.meta.url === pathToFileURL(entryPoint).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      console.error(error)
      process.exitCode = 2
    },
  )
}

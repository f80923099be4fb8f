import type { Resource } from '@aws-cdk/service-spec-types'
import { type CheckContext, checkObject } from './check-values.js'
import { childPath, type TemplateProblem } from './problem.js'
import { isCustomResource, SAM_TRANSFORM, type Spec } from './spec.js'
import { didYouMean } from './suggest.js'
import { entry, intrinsicName, isList, isMapping, kindOf, type Mapping } from './values.js'

/** The top-level sections of a template; `Globals` only with the SAM transform. */
const SECTIONS = [
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Rules',
  'Mappings',
  'Conditions',
  'Transform',
  'Resources',
  'Outputs',
  'Globals',
]

/** The keys a resource entry may have besides its properties; SAM adds embedded `Connectors`. */
const RESOURCE_ATTRIBUTES = [
  'Type',
  'Properties',
  'DependsOn',
  'Condition',
  'Metadata',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'CreationPolicy',
  'UpdatePolicy',
]
const SAM_RESOURCE_ATTRIBUTES = ['Connectors']

/** The sections SAM `Globals` may have, each holding defaults for `AWS::Serverless::<section>`. */
const SAM_GLOBAL_SECTIONS = ['Function', 'Api', 'HttpApi', 'SimpleTable', 'StateMachine', 'LayerVersion']

/**
 * Checks a template's sections, resource types and resource properties (with SAM `Globals`)
 * against the resource specification.
 */
export function checkStructure(template: Mapping, spec: Spec): TemplateProblem[] {
  const ctx: CheckContext = { spec, problems: [], requireProperties: true }
  const sam = transformsOf(template).includes(SAM_TRANSFORM)
  checkSections(template, sam, ctx)
  if (sam && template.Globals !== undefined) checkGlobals(template.Globals, ctx)
  const resources = template.Resources
  if (!isMapping(resources) || Object.keys(resources).length === 0) {
    report(ctx, 'Resources', 'a template needs a Resources section with at least one resource')
    return ctx.problems
  }
  for (const [logicalId, resource] of Object.entries(resources)) {
    checkResource(logicalId, resource, template, sam, ctx)
  }
  return ctx.problems
}

/** The transforms a template declares: `Transform` is one name or a list of them. */
function transformsOf(template: Mapping): string[] {
  const transform = template.Transform
  const names = isList(transform) ? transform : [transform]
  return names.filter((name): name is string => typeof name === 'string')
}

function checkSections(template: Mapping, sam: boolean, ctx: CheckContext): void {
  for (const section of Object.keys(template)) {
    if (!SECTIONS.includes(section)) {
      report(ctx, section, `unknown top-level section "${section}"${didYouMean(section, SECTIONS)}`)
    } else if (section === 'Globals' && !sam) {
      report(ctx, section, `the Globals section needs "Transform: ${SAM_TRANSFORM}"`)
    }
  }
  const version = template.AWSTemplateFormatVersion
  if (version !== undefined && version !== '2010-09-09') {
    report(ctx, 'AWSTemplateFormatVersion', `the only template format version is "2010-09-09", got ${kindOf(version)}`)
  }
}

function checkGlobals(globals: unknown, ctx: CheckContext): void {
  if (!isMapping(globals)) {
    report(ctx, 'Globals', `expected a mapping, got ${kindOf(globals)}`)
    return
  }
  // Globals hold defaults, so what a resource must have is checked on the resources themselves.
  const defaults: CheckContext = { ...ctx, requireProperties: false }
  for (const [section, value] of Object.entries(globals)) {
    const path = childPath('Globals', section)
    const known = SAM_GLOBAL_SECTIONS.includes(section)
    const resource = known ? ctx.spec.resource(`AWS::Serverless::${section}`) : undefined
    if (resource === undefined) {
      const hint = didYouMean(section, SAM_GLOBAL_SECTIONS)
      report(ctx, path, `unknown Globals section "${section}"${hint}; known: ${SAM_GLOBAL_SECTIONS.join(', ')}`)
    } else if (!isMapping(value)) {
      report(ctx, path, `expected a mapping, got ${kindOf(value)}`)
    } else {
      checkObject(value, ctx.spec.resourceShape(resource), path, defaults)
    }
  }
}

function checkResource(logicalId: string, resource: unknown, template: Mapping, sam: boolean, ctx: CheckContext): void {
  const path = childPath('Resources', logicalId)
  if (!/^[A-Za-z0-9]+$/.test(logicalId)) report(ctx, path, 'logical IDs must be alphanumeric (A-Z, a-z, 0-9)')
  if (!isMapping(resource)) {
    report(ctx, path, `expected a mapping with a Type, got ${kindOf(resource)}`)
    return
  }
  const attributes = sam ? [...RESOURCE_ATTRIBUTES, ...SAM_RESOURCE_ATTRIBUTES] : RESOURCE_ATTRIBUTES
  for (const key of Object.keys(resource)) {
    if (!attributes.includes(key)) {
      report(ctx, childPath(path, key), `unknown resource attribute "${key}"${didYouMean(key, attributes)}`)
    }
  }
  const type = resource.Type
  if (typeof type !== 'string') {
    report(ctx, childPath(path, 'Type'), `expected a resource type name, got ${kindOf(type)}`)
    return
  }
  // Custom resources take whatever properties their provider understands.
  if (isCustomResource(type)) return
  const definition = ctx.spec.resource(type)
  if (definition === undefined) {
    const hint = didYouMean(type, ctx.spec.resourceTypes())
    report(ctx, childPath(path, 'Type'), `unknown resource type "${type}"${hint}`)
    return
  }
  const transform = definition.cloudFormationTransform
  if (transform !== undefined && !transformsOf(template).includes(transform)) {
    report(ctx, childPath(path, 'Type'), `${type} needs "Transform: ${transform}"`)
  }
  checkProperties(resource.Properties, definition, path, sam ? samDefaults(template, type) : undefined, ctx)
}

function checkProperties(
  properties: unknown,
  resource: Resource,
  resourcePath: string,
  defaults: unknown,
  ctx: CheckContext,
): void {
  const path = childPath(resourcePath, 'Properties')
  if (intrinsicName(properties) !== undefined) return
  if (properties !== undefined && !isMapping(properties)) {
    report(ctx, path, `expected a mapping, got ${kindOf(properties)}`)
    return
  }
  checkObject(isMapping(properties) ? properties : {}, ctx.spec.resourceShape(resource), path, ctx, defaults)
}

/** The Globals section that holds defaults for a SAM resource type, if any. */
function samDefaults(template: Mapping, type: string): unknown {
  const prefix = 'AWS::Serverless::'
  return type.startsWith(prefix) ? entry(template.Globals, type.slice(prefix.length)) : undefined
}

function report(ctx: CheckContext, path: string, message: string): void {
  ctx.problems.push({ path, message })
}

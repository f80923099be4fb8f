import { childPath, type TemplateProblem } from './problem.js'
import { isCustomResource, type Spec } from './spec.js'
import { didYouMean } from './suggest.js'
import { entry, isList, isMapping, keysOf, type Mapping } from './values.js'

/** Parameters that every stack has without declaring them. */
const PSEUDO_PARAMETERS = [
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]

/** The sections whose values may call intrinsic functions. */
const SECTIONS_WITH_INTRINSICS = ['Rules', 'Conditions', 'Resources', 'Outputs', 'Globals']

/** What a template declares, for resolving the names it refers to. */
interface Names {
  readonly parameters: ReadonlySet<string>
  /** Resource type by logical ID (undefined where the template gives no type name). */
  readonly resources: ReadonlyMap<string, string | undefined>
  readonly conditions: ReadonlySet<string>
  readonly mappings: ReadonlySet<string>
  /** Resources SAM generates, which a template may name without declaring them. */
  readonly samGenerated: ReadonlySet<string>
}

/**
 * Checks that every name a template refers to exists: `Ref` and `Fn::Sub` targets, `Fn::GetAtt`
 * resources and attributes, `DependsOn` resources, and the conditions and mappings used.
 */
export function checkReferences(template: Mapping, spec: Spec): TemplateProblem[] {
  const resources = isMapping(template.Resources) ? template.Resources : {}
  const names: Names = {
    parameters: new Set(keysOf(template.Parameters)),
    resources: new Map(Object.entries(resources).map(([id, resource]) => [id, typeName(resource)])),
    conditions: new Set(keysOf(template.Conditions)),
    mappings: new Set(keysOf(template.Mappings)),
    samGenerated: samGeneratedNames(resources),
  }
  const checker = new ReferenceChecker(names, spec)
  for (const section of SECTIONS_WITH_INTRINSICS) {
    if (template[section] !== undefined) checker.visit(template[section], section, section === 'Conditions')
  }
  for (const [id, resource] of Object.entries(resources)) checker.checkResourceAttributes(resource, id)
  for (const [id, output] of Object.entries(isMapping(template.Outputs) ? template.Outputs : {})) {
    checker.checkCondition(entry(output, 'Condition'), childPath(childPath('Outputs', id), 'Condition'))
  }
  return checker.problems
}

/**
 * Names of resources SAM adds to the stack that templates commonly refer to: the execution role
 * of a function or state machine (`<LogicalId>Role`, unless it names its own), and the default
 * REST and HTTP APIs that `Api` and `HttpApi` events without an explicit API are attached to.
 */
function samGeneratedNames(resources: Mapping): Set<string> {
  const names = new Set<string>()
  for (const [id, resource] of Object.entries(resources)) {
    const type = typeName(resource)
    if (type === 'AWS::Serverless::Function' || type === 'AWS::Serverless::StateMachine') names.add(`${id}Role`)
    const events = entry(entry(resource, 'Properties'), 'Events')
    for (const event of isMapping(events) ? Object.values(events) : []) {
      if (entry(event, 'Type') === 'Api') names.add('ServerlessRestApi')
      if (entry(event, 'Type') === 'HttpApi') names.add('ServerlessHttpApi')
    }
  }
  return names
}

class ReferenceChecker {
  readonly problems: TemplateProblem[] = []

  constructor(
    private readonly names: Names,
    private readonly spec: Spec,
  ) {}

  /** Walks a value, checking each intrinsic function call in it, nested ones included. */
  visit(value: unknown, path: string, inConditions: boolean): void {
    if (isList(value)) {
      value.forEach((item, index) => {
        this.visit(item, childPath(path, index), inConditions)
      })
      return
    }
    if (!isMapping(value)) return
    const keys = Object.keys(value)
    if (keys.length === 1) this.checkIntrinsic(value, path, inConditions)
    for (const key of keys) this.visit(value[key], childPath(path, key), inConditions)
  }

  /** `DependsOn` names resources; `Condition` names a condition. */
  checkResourceAttributes(resource: unknown, id: string): void {
    const path = childPath('Resources', id)
    const dependsOn = entry(resource, 'DependsOn')
    const targets = isList(dependsOn) ? dependsOn : dependsOn === undefined ? [] : [dependsOn]
    for (const target of targets) {
      if (typeof target === 'string' && !this.isResource(target)) {
        this.report(childPath(path, 'DependsOn'), `DependsOn unknown resource "${target}"${this.resourceHint(target)}`)
      }
    }
    this.checkCondition(entry(resource, 'Condition'), childPath(path, 'Condition'))
  }

  checkCondition(name: unknown, path: string): void {
    if (typeof name === 'string' && !this.names.conditions.has(name)) {
      this.report(path, `unknown condition "${name}"${didYouMean(name, this.names.conditions)}`)
    }
  }

  private checkIntrinsic(call: Mapping, path: string, inConditions: boolean): void {
    if (Object.hasOwn(call, 'Ref')) this.checkRef(call.Ref, path)
    else if (Object.hasOwn(call, 'Fn::GetAtt')) this.checkGetAtt(call['Fn::GetAtt'], path)
    else if (Object.hasOwn(call, 'Fn::Sub')) this.checkSub(call['Fn::Sub'], path)
    else if (Object.hasOwn(call, 'Fn::If')) this.checkCondition(firstOf(call['Fn::If']), path)
    else if (Object.hasOwn(call, 'Fn::FindInMap')) this.checkMapping(firstOf(call['Fn::FindInMap']), path)
    // Outside Conditions, a lone `Condition` key is an ordinary property, such as an IAM statement's.
    else if (inConditions && Object.hasOwn(call, 'Condition')) this.checkCondition(call.Condition, path)
  }

  private checkRef(target: unknown, path: string): void {
    if (typeof target !== 'string' || this.isRefTarget(target)) return
    const hint = didYouMean(target, [...this.names.parameters, ...this.names.resources.keys(), ...PSEUDO_PARAMETERS])
    this.report(path, `Ref to unknown "${target}": not a parameter, resource or pseudo parameter${hint}`)
  }

  private checkGetAtt(args: unknown, path: string): void {
    const [logicalId, attribute] = isList(args) ? args : [args]
    if (typeof logicalId !== 'string' || (isList(args) && args.length !== 2)) {
      this.report(path, 'Fn::GetAtt takes a logical ID and an attribute name (!GetAtt Resource.Attribute)')
      return
    }
    if (this.names.samGenerated.has(logicalId)) return
    if (!this.names.resources.has(logicalId)) {
      this.report(path, `Fn::GetAtt of unknown resource "${logicalId}"${this.resourceHint(logicalId)}`)
      return
    }
    // Newer templates may compute the attribute name; only literal names can be checked.
    if (typeof attribute === 'string') this.checkAttribute(logicalId, attribute, path, 'Fn::GetAtt')
  }

  private checkSub(args: unknown, path: string): void {
    const [text, variables] = isList(args) ? args : [args]
    if (typeof text !== 'string') return
    const local = new Set(keysOf(variables))
    for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
      const name = (match[1] ?? '').trim()
      // `${!Name}` writes a literal `${Name}`.
      if (name.startsWith('!') || local.has(name) || this.isRefTarget(name)) continue
      const dot = name.indexOf('.')
      const logicalId = dot < 0 ? name : name.slice(0, dot)
      if (dot >= 0 && this.names.resources.has(logicalId)) {
        this.checkAttribute(logicalId, name.slice(dot + 1), path, `Fn::Sub variable "\${${name}}"`)
      } else if (dot < 0 || !this.names.samGenerated.has(logicalId)) {
        const what = 'is not a parameter, resource, resource attribute or pseudo parameter'
        this.report(path, `Fn::Sub variable "\${${name}}" ${what}${this.resourceHint(logicalId)}`)
      }
    }
  }

  /**
   * Checks an attribute against the spec. SAM resource types list no attributes there (SAM
   * resolves them against what it generates), so they, custom resources and nested stacks'
   * `Outputs.*` are not checked.
   */
  private checkAttribute(logicalId: string, attribute: string, path: string, what: string): void {
    const type = this.names.resources.get(logicalId)
    if (type === undefined || type.startsWith('AWS::Serverless::') || isCustomResource(type)) return
    if (type === 'AWS::CloudFormation::Stack' && attribute.startsWith('Outputs.')) return
    const resource = this.spec.resource(type)
    if (resource === undefined || Object.hasOwn(resource.attributes, attribute)) return
    const known = Object.keys(resource.attributes)
    const listed = known.length > 0 ? `; it has: ${known.sort().join(', ')}` : '; it has none'
    this.report(path, `${what}: ${type} "${logicalId}" has no attribute "${attribute}"${listed}`)
  }

  private checkMapping(name: unknown, path: string): void {
    if (typeof name === 'string' && !this.names.mappings.has(name)) {
      this.report(path, `Fn::FindInMap of unknown mapping "${name}"${didYouMean(name, this.names.mappings)}`)
    }
  }

  /**
   * Whether `Ref` may name `target`. SAM also accepts `<Function>.Alias` and `<Function>.Version`
   * style names for what it generates from a SAM resource.
   */
  private isRefTarget(target: string): boolean {
    if (this.names.parameters.has(target) || this.isResource(target) || PSEUDO_PARAMETERS.includes(target)) return true
    const dot = target.indexOf('.')
    return dot > 0 && (this.names.resources.get(target.slice(0, dot))?.startsWith('AWS::Serverless::') ?? false)
  }

  private isResource(name: string): boolean {
    return this.names.resources.has(name) || this.names.samGenerated.has(name)
  }

  private resourceHint(name: string): string {
    return didYouMean(name, this.names.resources.keys())
  }

  private report(path: string, message: string): void {
    this.problems.push({ path, message })
  }
}

function typeName(resource: unknown): string | undefined {
  const type = entry(resource, 'Type')
  return typeof type === 'string' ? type : undefined
}

function firstOf(args: unknown): unknown {
  return isList(args) ? args[0] : undefined
}

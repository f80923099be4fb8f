import type { PropertyType, TypeDefinition } from '@aws-cdk/service-spec-types'
import { childPath, type TemplateProblem } from './problem.js'
import { alsoTypesOf, findProperty, propertyNames, requiredProperties, type Shape, type Spec } from './spec.js'
import { didYouMean } from './suggest.js'
import { entry, intrinsicName, isList, isMapping, kindOf, type Mapping } from './values.js'

/** What the value checks need, and where they report. */
export interface CheckContext {
  readonly spec: Spec
  readonly problems: TemplateProblem[]
  /** False for SAM `Globals`, which hold defaults for some properties rather than whole resources. */
  readonly requireProperties: boolean
}

/** Where a value sits: its path, and what nested shapes need to know about it. */
interface Position {
  readonly path: string
  readonly resourceType: string
  /** Types that pass-through layers give this value (see `Shape`). */
  readonly alsoTypes: readonly PropertyType[]
  /** The value SAM `Globals` give this position; what it sets counts as present. */
  readonly inherited: unknown
}

/**
 * Checks the properties of one object against its shape: every key is a known property with a
 * value of the right type, and every required property is present here or in `inherited`.
 */
export function checkObject(value: Mapping, shape: Shape, path: string, ctx: CheckContext, inherited?: unknown): void {
  for (const [key, item] of Object.entries(value)) {
    const itemPath = childPath(path, key)
    const property = findProperty(shape, key)
    if (property === undefined) {
      report(ctx, itemPath, `unknown property "${key}" for ${shape.name}${didYouMean(key, propertyNames(shape))}`)
    } else if (shape.variants !== undefined && key === 'Properties') {
      checkEventProperties(value, shape, shape.variants, path, ctx)
    } else {
      const alsoTypes = alsoTypesOf(shape, key)
      const position = { path: itemPath, resourceType: shape.resourceType, alsoTypes, inherited: entry(inherited, key) }
      checkValue(item, property.type, position, ctx)
    }
  }
  if (!ctx.requireProperties) return
  for (const key of requiredProperties(shape)) {
    if (!Object.hasOwn(value, key) && entry(inherited, key) === undefined) {
      report(ctx, path, `missing required property "${key}" of ${shape.name}`)
    }
  }
}

/** Checks a SAM event's `Properties` against the event type its `Type` names. */
function checkEventProperties(
  event: Mapping,
  shape: Shape,
  variants: ReadonlyMap<string, TypeDefinition>,
  path: string,
  ctx: CheckContext,
): void {
  const eventType = event.Type
  if (typeof eventType !== 'string') return
  const variant = variants.get(eventType)
  if (variant === undefined) {
    const known = [...variants.keys()].sort().join(', ')
    const message = `unknown event type "${eventType}"${didYouMean(eventType, variants.keys())}; known: ${known}`
    report(ctx, childPath(path, 'Type'), message)
    return
  }
  const properties = event.Properties
  const propertiesPath = childPath(path, 'Properties')
  if (intrinsicName(properties) !== undefined) return
  if (!isMapping(properties)) {
    report(ctx, propertiesPath, `expected a mapping of ${variant.name} properties, got ${kindOf(properties)}`)
    return
  }
  checkObject(properties, ctx.spec.definitionShape(variant, shape.resourceType, []), propertiesPath, ctx)
}

/** Checks one literal value against a property type; intrinsic functions pass unchecked. */
function checkValue(value: unknown, type: PropertyType, at: Position, ctx: CheckContext): void {
  if (value === null) {
    report(ctx, at.path, 'null values are not allowed in templates')
    return
  }
  if (intrinsicName(value) !== undefined) return
  if (!couldHold(type, value)) {
    report(ctx, at.path, `expected ${describe(type, ctx.spec)}, got ${kindOf(value)}`)
    return
  }
  switch (type.type) {
    case 'array':
      if (isList(value)) checkItems(value, type.element, at, ctx)
      break
    case 'map':
      if (isMapping(value)) checkEntries(value, type.element, at, ctx)
      break
    case 'ref':
      if (isMapping(value)) {
        const shape = ctx.spec.definitionShape(ctx.spec.definition(type), at.resourceType, at.alsoTypes)
        checkObject(value, shape, at.path, ctx, at.inherited)
      }
      break
    case 'union':
      checkUnion(value, type.types, at, ctx)
      break
    case 'tag':
      if (isMapping(value)) checkTag(value, at, ctx)
      break
    default:
      checkAllowedValues(value, type, at, ctx)
  }
}

function checkItems(items: unknown[], type: PropertyType, at: Position, ctx: CheckContext): void {
  items.forEach((item, index) => {
    checkValue(item, type, { ...at, path: childPath(at.path, index), inherited: undefined }, ctx)
  })
}

function checkEntries(entries: Mapping, type: PropertyType, at: Position, ctx: CheckContext): void {
  for (const [key, item] of Object.entries(entries)) {
    checkValue(item, type, { ...at, path: childPath(at.path, key), inherited: entry(at.inherited, key) }, ctx)
  }
}

/**
 * Checks a value against the members of a union that could hold its kind of value.
 *
 * A member of type `json` accepts anything, so it is used only when no typed member could hold the
 * value: the typed members say more. When no member accepts the value, the closest member's
 * problems (the fewest) are reported.
 */
function checkUnion(value: unknown, members: readonly PropertyType[], at: Position, ctx: CheckContext): void {
  const candidates = members.filter((member) => couldHold(member, value))
  const typed = candidates.filter((member) => member.type !== 'json')
  let fewest: TemplateProblem[] | undefined
  for (const member of typed.length > 0 ? typed : candidates) {
    const trial: CheckContext = { ...ctx, problems: [] }
    checkValue(value, member, at, trial)
    if (trial.problems.length === 0) return
    if (fewest === undefined || trial.problems.length < fewest.length) fewest = trial.problems
  }
  ctx.problems.push(...(fewest ?? []))
}

/** A CloudFormation resource tag: exactly a `Key` and a `Value`. */
function checkTag(tag: Mapping, at: Position, ctx: CheckContext): void {
  for (const key of Object.keys(tag)) {
    if (key !== 'Key' && key !== 'Value') report(ctx, childPath(at.path, key), `unknown property "${key}" for a tag`)
  }
  for (const key of ['Key', 'Value']) {
    if (!Object.hasOwn(tag, key)) report(ctx, at.path, `missing required property "${key}" of a tag`)
  }
}

/** Enumerations the spec gives for strings and integers. */
function checkAllowedValues(value: unknown, type: PropertyType, at: Position, ctx: CheckContext): void {
  const allowed: ReadonlyArray<string | number> =
    type.type === 'string' || type.type === 'integer' ? (type.allowedValues ?? []) : []
  const listed = allowed.some((option) => String(option) === String(value))
  if (allowed.length === 0 || listed) return
  const options = allowed.length > 12 ? `${allowed.slice(0, 12).join(', ')}, ...` : allowed.join(', ')
  report(ctx, at.path, `${JSON.stringify(value)} is not an allowed value; allowed: ${options}`)
}

/**
 * Whether a literal of this kind could be a value of `type`, as leniently as CloudFormation reads
 * them: strings may be written as numbers or booleans, and numbers and booleans as strings.
 */
function couldHold(type: PropertyType, value: unknown): boolean {
  switch (type.type) {
    case 'string':
    case 'date-time':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    case 'number':
      return typeof value === 'number' || (typeof value === 'string' && isNumeric(value))
    case 'integer':
      return (
        (typeof value === 'number' || (typeof value === 'string' && isNumeric(value))) &&
        Number.isInteger(Number(value))
      )
    case 'boolean':
      return typeof value === 'boolean' || (typeof value === 'string' && /^(true|false)$/i.test(value))
    case 'null':
      return value === null
    case 'json':
      return true
    case 'array':
      return isList(value)
    case 'map':
    case 'ref':
    case 'tag':
      return isMapping(value)
    case 'union':
      return type.types.some((member) => couldHold(member, value))
  }
}

function isNumeric(text: string): boolean {
  return text.trim() !== '' && Number.isFinite(Number(text))
}

/** How messages name a type: `a string`, `a list`, `a mapping of KeySchema properties`, ... */
function describe(type: PropertyType, spec: Spec): string {
  switch (type.type) {
    case 'ref':
      return `a mapping of ${spec.definition(type).name} properties`
    case 'array':
      return 'a list'
    case 'map':
      return 'a mapping'
    case 'union':
      return type.types.map((member) => describe(member, spec)).join(' or ')
    case 'date-time':
      return 'a date-time string'
    case 'json':
      return 'any JSON value'
    case 'tag':
      return 'a tag (a mapping with Key and Value)'
    default:
      return `${type.type === 'integer' ? 'an' : 'a'} ${type.type}`
  }
}

function report(ctx: CheckContext, path: string, message: string): void {
  ctx.problems.push({ path, message })
}

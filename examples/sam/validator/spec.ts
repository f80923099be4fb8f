import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec'
import type {
  Property,
  PropertyType,
  Resource,
  ResourceProperties,
  SpecDatabase,
  TypeDefinition,
} from '@aws-cdk/service-spec-types'

/** The transform that SAM resource types and the `Globals` section need. */
export const SAM_TRANSFORM = 'AWS::Serverless-2016-10-31'

/**
 * The properties an object of one resource type or property type may have.
 *
 * `layers[0]` is the type's own definition and alone decides what is required. Further layers come
 * from the CloudFormation types SAM generates and passes properties through to (see
 * {@link SAM_PASS_THROUGH}); they widen what is accepted and may make a property optional.
 */
export interface Shape {
  /** How messages name the type: `AWS::DynamoDB::Table` or `AWS::Serverless::Function.SQSEvent`. */
  readonly name: string
  /** The resource type the shape belongs to, so nested shapes find their own pass-throughs. */
  readonly resourceType: string
  readonly layers: readonly ResourceProperties[]
  /**
   * For a SAM event source, the type of its `Properties` by the event's `Type` (`SQS` → `SQSEvent`).
   * The spec models event sources as a `Type` string beside a union of every event's properties.
   */
  readonly variants?: ReadonlyMap<string, TypeDefinition>
}

/**
 * Where SAM passes properties through to a CloudFormation resource it generates.
 *
 * The SAM part of the spec database comes from an older SAM schema than SAM itself: its SQS event
 * lacks `FunctionResponseTypes`, and its `EventInvokeConfig` requires both `OnSuccess` and
 * `OnFailure`. The CloudFormation part is current, so the generated resource's definition stands in
 * for what the SAM definition has not caught up with. The price is leniency: a property of the
 * generated resource that SAM does not pass through is accepted too.
 */
const SAM_PASS_THROUGH: ReadonlyArray<{ sam: string; definition?: string; cloudFormation: string }> = [
  { sam: 'AWS::Serverless::Function', cloudFormation: 'AWS::Lambda::Function' },
  {
    sam: 'AWS::Serverless::Function',
    definition: 'EventInvokeConfig',
    cloudFormation: 'AWS::Lambda::EventInvokeConfig',
  },
  { sam: 'AWS::Serverless::Function', definition: 'SQSEvent', cloudFormation: 'AWS::Lambda::EventSourceMapping' },
  { sam: 'AWS::Serverless::Function', definition: 'KinesisEvent', cloudFormation: 'AWS::Lambda::EventSourceMapping' },
  { sam: 'AWS::Serverless::Function', definition: 'DynamoDBEvent', cloudFormation: 'AWS::Lambda::EventSourceMapping' },
]

/** Read access to the AWS resource specification that the checks are driven by. */
export class Spec {
  private constructor(private readonly db: SpecDatabase) {}

  /** Loads the bundled database (a few hundred milliseconds), once per process. */
  static load(): Promise<Spec> {
    loading ??= loadAwsServiceSpec().then((db) => new Spec(db))
    return loading
  }

  /** The resource type named `cloudFormationType`, if the spec knows it. */
  resource(cloudFormationType: string): Resource | undefined {
    return this.db.lookup('resource', 'cloudFormationType', 'equals', cloudFormationType)[0]
  }

  /** Every resource type name, for suggestions. */
  resourceTypes(): string[] {
    return this.db.all('resource').map((resource) => resource.cloudFormationType)
  }

  /** The type definition a `ref` property type points at. */
  definition(type: Extract<PropertyType, { type: 'ref' }>): TypeDefinition {
    return this.db.get('typeDefinition', type.reference)
  }

  /** The properties a resource of this type may have. */
  resourceShape(resource: Resource): Shape {
    const type = resource.cloudFormationType
    return { name: type, resourceType: type, layers: [resource.properties, ...this.passThrough(type, undefined)] }
  }

  /**
   * The properties an object of type `definition` may have.
   *
   * @param alsoTypes the types the outer shape's other layers give the same property, whose
   *   definitions become further layers here
   */
  definitionShape(definition: TypeDefinition, resourceType: string, alsoTypes: readonly PropertyType[]): Shape {
    const layers = [
      definition.properties,
      ...alsoTypes.flatMap((type) => this.definitionsIn(type)).map((other) => other.properties),
      ...this.passThrough(resourceType, definition.name),
    ]
    const variants = this.eventVariants(definition)
    const name = `${resourceType}.${definition.name}`
    return variants === undefined ? { name, resourceType, layers } : { name, resourceType, layers, variants }
  }

  private passThrough(samType: string, definition: string | undefined): ResourceProperties[] {
    const layers: ResourceProperties[] = []
    for (const entry of SAM_PASS_THROUGH) {
      if (entry.sam !== samType || entry.definition !== definition) continue
      const generated = this.resource(entry.cloudFormation)
      if (generated !== undefined) layers.push(generated.properties)
    }
    return layers
  }

  /** The object types reachable in `type` through lists, maps and unions. */
  private definitionsIn(type: PropertyType): TypeDefinition[] {
    switch (type.type) {
      case 'ref':
        return [this.definition(type)]
      case 'array':
      case 'map':
        return this.definitionsIn(type.element)
      case 'union':
        return type.types.flatMap((member) => this.definitionsIn(member))
      default:
        return []
    }
  }

  /**
   * Recognises a SAM event source: a `Type` string beside `Properties` that is a union of object
   * types, each named after its event type plus `Event` (`HttpApiEvent`, `SQSEvent`, ...).
   */
  private eventVariants(definition: TypeDefinition): Map<string, TypeDefinition> | undefined {
    const discriminator = definition.properties.Type?.type
    const properties = definition.properties.Properties?.type
    if (discriminator?.type !== 'string' || properties?.type !== 'union') return undefined
    const variants = new Map<string, TypeDefinition>()
    for (const member of properties.types) {
      if (member.type !== 'ref') return undefined
      const variant = this.definition(member)
      variants.set(variant.name.replace(/Event$/, ''), variant)
    }
    return variants
  }
}

let loading: Promise<Spec> | undefined

/** Whether `type` is a custom resource, whose properties only its provider defines. */
export function isCustomResource(type: string): boolean {
  return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource'
}

/** The definition of property `key` in the first layer of `shape` that has one. */
export function findProperty(shape: Shape, key: string): Property | undefined {
  for (const layer of shape.layers) if (Object.hasOwn(layer, key)) return layer[key]
  return undefined
}

/** The types the layers after the first give property `key`, to carry pass-throughs into nested shapes. */
export function alsoTypesOf(shape: Shape, key: string): PropertyType[] {
  return shape.layers.slice(1).flatMap((layer) => (Object.hasOwn(layer, key) ? (layer[key]?.type ?? []) : []))
}

/** Properties required by the shape's own definition, unless a pass-through layer makes them optional. */
export function requiredProperties(shape: Shape): string[] {
  const [own = {}, ...others] = shape.layers
  return Object.entries(own)
    .filter(([, property]) => property.required === true)
    .filter(([key]) => !others.some((layer) => Object.hasOwn(layer, key) && layer[key]?.required !== true))
    .map(([key]) => key)
}

/** Every property name the shape accepts. */
export function propertyNames(shape: Shape): string[] {
  return [...new Set(shape.layers.flatMap((layer) => Object.keys(layer)))]
}

import { type CollectionTag, LineCounter, parseDocument, type ScalarTag } from 'yaml'
import type { TemplateProblem } from './problem.js'

/** Each CloudFormation short-form tag, by tag name, and the long-form key it stands for. */
const SHORT_FORMS: Readonly<Record<string, string>> = {
  Ref: 'Ref',
  Condition: 'Condition',
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  FindInMap: 'Fn::FindInMap',
  GetAtt: 'Fn::GetAtt',
  GetAZs: 'Fn::GetAZs',
  ImportValue: 'Fn::ImportValue',
  Join: 'Fn::Join',
  Select: 'Fn::Select',
  Split: 'Fn::Split',
  Sub: 'Fn::Sub',
  Transform: 'Fn::Transform',
  And: 'Fn::And',
  Equals: 'Fn::Equals',
  If: 'Fn::If',
  Not: 'Fn::Not',
  Or: 'Fn::Or',
}

/** A parsed template, or the reasons it could not be parsed. */
export interface ParsedTemplate {
  /** The template in long form (`!Ref X` reads as `{ Ref: X }`); undefined when it is not valid YAML. */
  readonly template: unknown
  /** Syntax errors, and warnings such as tags that are not CloudFormation's. */
  readonly problems: TemplateProblem[]
}

/**
 * Parses a CloudFormation or SAM template written in YAML, turning every short-form tag into
 * the long form that CloudFormation itself sees, so later checks deal with one form only.
 */
export function parseTemplateYaml(text: string): ParsedTemplate {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { customTags: cloudFormationTags(), lineCounter, prettyErrors: false })
  const problems = [...document.errors, ...document.warnings].map((issue) => {
    const position = lineCounter.linePos(issue.pos[0])
    return { path: `line ${position.line}, column ${position.col}`, message: issue.message }
  })
  const failed = document.errors.length > 0
  return { template: failed ? undefined : document.toJS({ maxAliasCount: 100 }), problems }
}

function cloudFormationTags(): Array<ScalarTag | CollectionTag> {
  return Object.entries(SHORT_FORMS).flatMap(([name, key]) => {
    const tag = `!${name}`
    const scalar = (text: string) => ({ [key]: name === 'GetAtt' ? splitGetAtt(text) : text })
    return [
      { tag, resolve: scalar },
      { tag, collection: 'seq', resolve: (node) => ({ [key]: node.toJSON() }) },
      { tag, collection: 'map', resolve: (node) => ({ [key]: node.toJSON() }) },
    ] satisfies Array<ScalarTag | CollectionTag>
  })
}

/**
 * `!GetAtt Resource.Attribute` is the one short form whose scalar is not passed through as is:
 * CloudFormation splits it at the first dot, since attribute names may themselves contain dots.
 */
function splitGetAtt(text: string): string | string[] {
  const dot = text.indexOf('.')
  return dot < 0 ? text : [text.slice(0, dot), text.slice(dot + 1)]
}

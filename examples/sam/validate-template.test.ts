import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import { parseTemplateYaml, validateTemplate } from './validate-template.js'
import { entry, isMapping } from './validator/values.js'

const here = dirname(fileURLToPath(import.meta.url))
const templateText = readFileSync(resolve(here, 'template.yaml'), 'utf8')

/** The real template with one edit; fails loudly if the template no longer has the text to edit. */
function edited(find: string, replacement: string): string {
  expect(templateText).toContain(find)
  return templateText.replace(find, replacement)
}

/** The one problem a broken template should have, so a check that also misfires elsewhere fails. */
async function onlyProblem(text: string): Promise<{ path: string; message: string }> {
  const problems = await validateTemplate(text)
  expect(problems).toHaveLength(1)
  const [problem] = problems
  if (problem === undefined) throw new Error('expected a problem')
  return problem
}

describe('the SAM template', () => {
  it('validates against the AWS resource specification', async () => {
    expect(await validateTemplate(templateText)).toEqual([])
  })
})

describe('validateTemplate catches', () => {
  it('an unknown property of the DynamoDB table', async () => {
    const text = edited(
      '      BillingMode: PAY_PER_REQUEST\n',
      '      BillingMode: PAY_PER_REQUEST\n      ReadCapacity: 5\n',
    )
    expect(await onlyProblem(text)).toEqual({
      path: 'Resources.CircuitBreakerTable.Properties.ReadCapacity',
      message: 'unknown property "ReadCapacity" for AWS::DynamoDB::Table',
    })
  })

  it('a misspelled resource type', async () => {
    const problem = await onlyProblem(edited('Type: AWS::DynamoDB::Table', 'Type: AWS::DynamoDB::Tables'))
    expect(problem.path).toBe('Resources.CircuitBreakerTable.Type')
    expect(problem.message).toBe('unknown resource type "AWS::DynamoDB::Tables" (did you mean "AWS::DynamoDB::Table"?)')
  })

  it('an unknown property of the SQS event', async () => {
    const problem = await onlyProblem(edited('FunctionResponseTypes:', 'FunctionResponseType:'))
    expect(problem.path).toBe('Resources.OrdersFunction.Properties.Events.Orders.Properties.FunctionResponseType')
    expect(problem.message).toContain('unknown property "FunctionResponseType" for AWS::Serverless::Function.SQSEvent')
    expect(problem.message).toContain('did you mean "FunctionResponseTypes"?')
  })

  it('a value of the wrong type for an SQS event property', async () => {
    const problem = await onlyProblem(
      edited(
        'FunctionResponseTypes:\n              - ReportBatchItemFailures',
        'FunctionResponseTypes: ReportBatchItemFailures',
      ),
    )
    expect(problem).toEqual({
      path: 'Resources.OrdersFunction.Properties.Events.Orders.Properties.FunctionResponseTypes',
      message: 'expected a list, got the string "ReportBatchItemFailures"',
    })
  })

  it('an unknown event type', async () => {
    const problem = await onlyProblem(
      edited(
        'Type: SQS\n          Properties:\n            Queue:',
        'Type: SQSQueue\n          Properties:\n            Queue:',
      ),
    )
    expect(problem.path).toBe('Resources.OrdersFunction.Properties.Events.Orders.Type')
    expect(problem.message).toMatch(/^unknown event type "SQSQueue".*known: .*HttpApi.*SQS/)
  })

  it('a missing required property', async () => {
    const text = edited('      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n', '')
    expect(await onlyProblem(text)).toEqual({
      path: 'Resources.CircuitBreakerTable.Properties',
      message: 'missing required property "KeySchema" of AWS::DynamoDB::Table',
    })
  })

  it('a !Ref to a resource that does not exist', async () => {
    const problem = await onlyProblem(edited('- !Ref CircuitBreakerAccess', '- !Ref CircuitBreakerPolicy'))
    expect(problem.path).toBe('Resources.QuoteFunction.Properties.Policies[0]')
    expect(problem.message).toContain('Ref to unknown "CircuitBreakerPolicy"')
  })

  it('a !GetAtt of an attribute the table does not have', async () => {
    const problem = await onlyProblem(edited('!GetAtt CircuitBreakerTable.Arn', '!GetAtt CircuitBreakerTable.TableArn'))
    expect(problem.path).toBe('Resources.CircuitBreakerAccess.Properties.PolicyDocument.Statement[0].Resource')
    expect(problem.message).toContain('AWS::DynamoDB::Table "CircuitBreakerTable" has no attribute "TableArn"')
  })

  it('an unknown key in Globals', async () => {
    const problem = await onlyProblem(edited('    MemorySize: 512\n', '    MemorySize: 512\n    Concurrency: 5\n'))
    expect(problem.path).toBe('Globals.Function.Concurrency')
    expect(problem.message).toContain('unknown property "Concurrency" for AWS::Serverless::Function')
  })

  it('an unknown Globals section', async () => {
    const problem = await onlyProblem(edited('Globals:\n  Function:\n', 'Globals:\n  Functions:\n'))
    expect(problem.path).toBe('Globals.Functions')
    expect(problem.message).toContain('unknown Globals section "Functions" (did you mean "Function"?)')
  })

  it('an unknown variable in a !Sub', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: these are Fn::Sub placeholders, not JavaScript ones
    const [region, missing] = ['${AWS::Region}', '${Missing}']
    // The ApiUrl output's own substitution, whatever other !Sub strings hold the same variable.
    const apiUrl = `execute-api.${region}.amazonaws.com`
    expect(await onlyProblem(edited(apiUrl, apiUrl.replace(region, missing)))).toEqual({
      path: 'Outputs.ApiUrl.Value',
      message: `Fn::Sub variable "${missing}" is not a parameter, resource, resource attribute or pseudo parameter`,
    })
  })

  it('a literal of the wrong primitive type', async () => {
    expect(await onlyProblem(edited('MemorySize: 512', 'MemorySize: large'))).toEqual({
      path: 'Globals.Function.MemorySize',
      message: 'expected a number, got the string "large"',
    })
  })

  it('a SAM resource without the SAM transform', async () => {
    const problems = await validateTemplate(edited('Transform: AWS::Serverless-2016-10-31\n', ''))
    expect(problems).toContainEqual({
      path: 'Globals',
      message: 'the Globals section needs "Transform: AWS::Serverless-2016-10-31"',
    })
    expect(problems).toContainEqual({
      path: 'Resources.QuoteFunction.Type',
      message: 'AWS::Serverless::Function needs "Transform: AWS::Serverless-2016-10-31"',
    })
  })

  it('YAML that does not parse', async () => {
    const [problem] = await validateTemplate(edited('Resources:\n', 'Resources:\n  Broken: [\n'))
    expect(problem?.path).toMatch(/^line \d+, column \d+$/)
  })
})

describe('validateTemplate and SAM Globals', () => {
  const api = (globals: string) =>
    [
      'Transform: AWS::Serverless-2016-10-31',
      globals,
      'Resources:',
      '  Api:',
      '    Type: AWS::Serverless::Api',
      '    Properties:',
      '      TracingEnabled: true',
    ].join('\n')

  it('counts a required property set in Globals as present', async () => {
    expect(await validateTemplate(api('Globals:\n  Api:\n    StageName: prod'))).toEqual([])
  })

  it('reports it missing when Globals does not set it either', async () => {
    expect(await validateTemplate(api(''))).toEqual([
      { path: 'Resources.Api.Properties', message: 'missing required property "StageName" of AWS::Serverless::Api' },
    ])
  })
})

describe('the template grants least privilege', () => {
  const template = parseTemplateYaml(templateText).template
  const resources = entry(template, 'Resources')
  const ofType = (type: string) =>
    Object.entries(isMapping(resources) ? resources : {}).filter(([, resource]) => entry(resource, 'Type') === type)
  const [table] = ofType('AWS::DynamoDB::Table')
  const statementsOf = (resource: unknown) => entry(entry(entry(resource, 'Properties'), 'PolicyDocument'), 'Statement')
  const managedPolicies = ofType('AWS::IAM::ManagedPolicy')
  // The table's policy is the one that names the table; other policies (events, alarms) must not touch it.
  const onTable = (resource: unknown) => JSON.stringify(statementsOf(resource)).includes(`"${table?.[0]}"`)
  const [policy, ...otherTablePolicies] = managedPolicies.filter(([, resource]) => onTable(resource))
  const otherPolicies = managedPolicies.filter(([, resource]) => !onTable(resource))
  const functions = ofType('AWS::Serverless::Function')

  it('through one managed policy allowing only GetItem and UpdateItem on the table', () => {
    expect(table).toBeDefined()
    expect(policy).toBeDefined()
    expect(otherTablePolicies).toEqual([])
    for (const [name, resource] of otherPolicies) {
      expect({ name, dynamodb: JSON.stringify(statementsOf(resource)).includes('dynamodb:') }).toEqual({
        name,
        dynamodb: false,
      })
    }
    const statements = entry(entry(entry(policy?.[1], 'Properties'), 'PolicyDocument'), 'Statement')
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [table?.[0], 'Arn'] },
      },
    ])
  })

  it('that every function uses, and no other', () => {
    expect(functions.length).toBeGreaterThan(0)
    for (const [, fn] of functions) {
      const policies = entry(entry(fn, 'Properties'), 'Policies')
      expect(Array.isArray(policies) ? policies[0] : policies).toEqual({ Ref: policy?.[0] })
      // Beyond the table's, only the template's own narrow managed policies.
      const names = otherPolicies.map(([name]) => ({ Ref: name }))
      for (const extra of Array.isArray(policies) ? policies.slice(1) : []) expect(names).toContainEqual(extra)
    }
  })

  it('with every function built from an entry point that exists', () => {
    const defaultCodeUri = entry(entry(entry(template, 'Globals'), 'Function'), 'CodeUri')
    for (const [, fn] of functions) {
      const codeUri = entry(entry(fn, 'Properties'), 'CodeUri') ?? defaultCodeUri
      const build = entry(entry(fn, 'Metadata'), 'BuildProperties')
      const entryPoints = entry(build, 'EntryPoints')
      expect(typeof codeUri).toBe('string')
      expect(entryPoints).toEqual([expect.any(String)])
      for (const entryPoint of Array.isArray(entryPoints) ? entryPoints : []) {
        const file = resolve(here, String(codeUri), String(entryPoint))
        expect({ file, exists: existsSync(file) }).toEqual({ file, exists: true })
      }
    }
  })
})

import { InvalidConfigurationError, StoreUnavailableError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { storeProblem } from '../../src/connection.js'

const dynamodb = {
  kind: 'dynamodb',
  table: 'circuits',
  target: 'DynamoDB table "circuits" (region eu-west-1)',
} as const
const redis = { kind: 'redis', target: 'Redis at redis://cache:6379' } as const

/** An error shaped as the AWS SDK throws them: a `name`, a message, maybe a system `code` in its causes. */
function sdkError(name: string, message: string, cause?: unknown): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause })
  error.name = name
  return error
}

describe('store failures as one line that says what to fix', () => {
  it.each([
    [
      'a missing table',
      sdkError('ResourceNotFoundException', 'Requested resource not found'),
      dynamodb,
      1,
      'DynamoDB table "circuits" (region eu-west-1) does not exist: check --table (or CIRCUIT_BREAKER_TABLE) and --region',
    ],
    [
      'no credentials',
      sdkError('CredentialsProviderError', 'Could not load credentials from any providers'),
      dynamodb,
      1,
      'no valid AWS credentials for DynamoDB table "circuits" (region eu-west-1): Could not load credentials from any providers',
    ],
    [
      'credentials of another account',
      sdkError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      dynamodb,
      1,
      'no valid AWS credentials for DynamoDB table "circuits" (region eu-west-1): The security token included in the request is invalid.',
    ],
    [
      'a role without access',
      sdkError(
        'AccessDeniedException',
        'User: arn:aws:sts::1:assumed-role/ReadOnly/alice is not authorized to perform: dynamodb:UpdateItem',
      ),
      dynamodb,
      1,
      'access denied to DynamoDB table "circuits" (region eu-west-1): User: arn:aws:sts::1:assumed-role/ReadOnly/alice is not authorized to perform: dynamodb:UpdateItem',
    ],
    ['no region', new Error('Region is missing'), dynamodb, 2, 'no AWS region: pass --region or set AWS_REGION'],
    [
      'an endpoint that refuses connections, wrapped by the admin',
      new StoreUnavailableError({
        circuitId: 'payment-api',
        operation: 'force-open',
        cause: sdkError(
          'Error',
          'connect failed',
          Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        ),
      }),
      dynamodb,
      1,
      'cannot reach DynamoDB table "circuits" (region eu-west-1) (ECONNREFUSED): check --region, AWS_ENDPOINT_URL_DYNAMODB and your network',
    ],
    [
      'a Redis server that is down',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      redis,
      1,
      "cannot reach Redis at redis://cache:6379 (Stream isn't writeable and enableOfflineQueue options is false): check --redis-url (or CIRCUIT_BREAKER_REDIS_URL) and your network",
    ],
    [
      'input the admin refuses',
      new InvalidConfigurationError('actor', 'x'.repeat(300), 'a non-blank string of at most 256 characters'),
      dynamodb,
      2,
      /^actor must be a non-blank string of at most 256 characters; received /,
    ],
    [
      'anything else, with its own first line',
      new Error('ThrottlingException: rate exceeded\n    at somewhere'),
      dynamodb,
      1,
      'DynamoDB table "circuits" (region eu-west-1): ThrottlingException: rate exceeded',
    ],
  ] as const)('%s', (_name, error, connection, exitCode, message) => {
    const problem = storeProblem(error, connection)
    expect(problem.exitCode).toBe(exitCode)
    if (typeof message === 'string') expect(problem.message).toBe(message)
    else expect(problem.message).toMatch(message)
    expect(problem.message).not.toContain('\n')
  })
})

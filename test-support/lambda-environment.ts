import type { LocalDynamoDB } from './dynalite.js'

/**
 * Points the AWS SDK and the breaker's store factory at a local DynamoDB, as a function deployed
 * with the SAM template would be configured, and returns a function that restores the environment.
 */
export function useLocalDynamoDB(
  dynamo: LocalDynamoDB,
  tableName: string,
  extra: Record<string, string> = {},
): () => void {
  const variables: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    CIRCUIT_BREAKER_STORE: 'dynamodb',
    CIRCUIT_BREAKER_TABLE: tableName,
    ...extra,
  }
  const previous = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]))
  Object.assign(process.env, variables)
  return () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}

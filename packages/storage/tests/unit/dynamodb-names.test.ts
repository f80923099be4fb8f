import { InvalidConfigurationError } from '@fleet-breaker/core'
import { circuitTableDefinition, circuitTableTimeToLive, DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { describe, expect, it } from '@jest/globals'

describe('DynamoDBStore options named as in Powertools', () => {
  it.each([
    ['keyAttr', 'partitionKey'],
    ['expiryAttr', 'ttlAttribute'],
    ['awsSdkV3Client', 'client'],
    ['sortKeyAttr', 'sortKey'],
    ['staticPkValue', 'keyPrefix'],
  ])('refuses %s, naming ours (%s), instead of ignoring it', (name, ours) => {
    const options = { tableName: 'circuit-breakers', [name]: 'x' }
    const attempt = () => new DynamoDBStore(options as ConstructorParameters<typeof DynamoDBStore>[0])
    expect(attempt).toThrow(InvalidConfigurationError)
    expect(attempt).toThrow(new RegExp(`^${name} must be nothing: this store calls it ${ours}`))
  })
})

describe('the table a deployer creates', () => {
  it('is a CreateTable input, and an UpdateTimeToLive input on the store’s TTL attribute', () => {
    expect(circuitTableDefinition({ tableName: 'circuit-breakers' })).toEqual({
      TableName: 'circuit-breakers',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    })
    expect(circuitTableTimeToLive({ tableName: 'circuit-breakers' })).toEqual({
      TableName: 'circuit-breakers',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    })
    expect(circuitTableTimeToLive({ tableName: 't', ttlAttribute: 'ttl' })?.TimeToLiveSpecification.AttributeName).toBe(
      'ttl',
    )
    expect(circuitTableTimeToLive({ tableName: 't', ttlAttribute: false })).toBeUndefined()
  })
})

import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb'
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../dynalite.js'
import { type FaultProxy, type ReplyContext, startFaultProxy } from '../fault-proxy.js'
import { type RedisServer, startRedisServer } from '../redis-server.js'
import { type RedisAddress, RespError, redisCommand } from '../resp.js'
import { Redis, type RedisOptions } from './redis-clients.js'

const TABLE = 'fault-proxy'

/** A counter item whose ADD lands once per request the server applies. */
const increment = (id: string) =>
  new UpdateItemCommand({
    TableName: TABLE,
    Key: { id: { S: id } },
    UpdateExpression: 'ADD hits :one',
    ExpressionAttributeValues: { ':one': { N: '1' } },
    ReturnValues: 'ALL_NEW',
  })

const isUpdate = ({ request }: ReplyContext) =>
  request?.http?.headers.get('x-amz-target') === 'DynamoDB_20120810.UpdateItem'

async function until(condition: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await sleep(20)
  return condition()
}

describe('the fault proxy in front of DynamoDB (dynalite, AWS SDK v3)', () => {
  let dynamo: LocalDynamoDB
  let proxy: FaultProxy
  /** Reads past the proxy, to see what the server really holds. */
  let direct: DynamoDBClient

  beforeAll(async () => {
    dynamo = await startDynalite()
    await dynamo.createTable(TABLE)
    proxy = await startFaultProxy({
      target: { host: '127.0.0.1', port: Number(new URL(dynamo.endpoint).port) },
      protocol: 'http',
    })
    direct = dynamo.client()
  })

  afterEach(() => proxy.passThrough())

  afterAll(async () => {
    await proxy.stop()
    await dynamo.stop()
  })

  async function hits(id: string): Promise<number> {
    const { Item } = await direct.send(
      new GetItemCommand({ TableName: TABLE, Key: { id: { S: id } }, ConsistentRead: true }),
    )
    return Number(Item?.hits?.N ?? 0)
  }

  it('passes requests through on one keep-alive connection, counting requests and replies', async () => {
    const client = dynamo.client({ endpoint: proxy.url })
    const before = proxy.stats
    const id = randomUUID()
    await client.send(increment(id))
    await client.send(increment(id))
    expect(await hits(id)).toBe(2)
    const after = proxy.stats
    expect(after.connections - before.connections).toBe(1)
    expect(after.requests - before.requests).toBe(2)
    expect(after.replies - before.replies).toBe(2)
    expect(after.delivered - before.delivered).toBe(2)
  })

  it('apply then drop: the write lands, the caller sees a reset', async () => {
    const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 1 })
    const id = randomUUID()
    const fault = proxy.dropReplies({ times: 1, match: isUpdate })
    const error = await client.send(increment(id)).catch((caught: unknown) => caught)
    // The SDK wraps the socket error; its message keeps the code.
    expect(error).toMatchObject({ message: expect.stringContaining('ECONNRESET') })
    expect(fault.applied).toBe(1)
    expect(fault.active).toBe(false)
    expect(await hits(id)).toBe(1)
  })

  it('apply then drop, with the SDK retrying: one call, the write applied twice', async () => {
    const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 3 })
    const id = randomUUID()
    const attempts: string[] = []
    const unsubscribe = proxy.observe(({ request }) => {
      attempts.push(request?.http?.headers.get('amz-sdk-request') ?? '')
    })
    proxy.dropReplies({ times: 1, match: isUpdate })
    const { Attributes } = await client.send(increment(id))
    unsubscribe()
    expect(Attributes?.hits?.N).toBe('2')
    expect(attempts).toEqual([expect.stringContaining('attempt=1'), expect.stringContaining('attempt=2')])
  })

  it('apply then answer 500: the write lands, the caller gets InternalFailure, the connection stays usable', async () => {
    const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 1 })
    const id = randomUUID()
    await client.send(increment(id)) // opens the connection
    const connections = proxy.stats.connections
    const fault = proxy.answer500({ times: 1, message: 'injected' })
    const error = await client.send(increment(id)).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name: 'InternalFailure', message: 'injected', $metadata: { httpStatusCode: 500 } })
    expect(fault.applied).toBe(1)
    expect(await hits(id)).toBe(2)
    await client.send(increment(id))
    expect(await hits(id)).toBe(3)
    // The 500 was framed for keep-alive: the client went on with the same connection.
    expect(proxy.stats.connections).toBe(connections)
  })

  it('delays replies', async () => {
    const client = dynamo.client({ endpoint: proxy.url })
    await client.send(increment(randomUUID()))
    proxy.delayReplies(300, { times: 1 })
    const started = performance.now()
    await client.send(increment(randomUUID()))
    // Timers never fire early; how late they fire depends on the machine, so only a lower bound.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
  })

  it('black hole: connections are accepted and never answered, until the client gives up', async () => {
    const hole = proxy.blackHole()
    const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 1 })
    const error = await client
      .send(increment(randomUUID()), { abortSignal: AbortSignal.timeout(300) })
      .catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name: 'AbortError' })
    expect(hole.applied).toBeGreaterThanOrEqual(1)
    hole.cancel()
    client.destroy()
    expect(await until(() => proxy.stats.abandonedByClient >= 1)).toBe(true)
    // New connections are forwarded again.
    const id = randomUUID()
    await dynamo.client({ endpoint: proxy.url }).send(increment(id))
    expect(await hits(id)).toBe(1)
  })

  it('reorders: the later request, applied last, is answered first', async () => {
    const id = randomUUID()
    // Two clients, two connections: one connection could only answer in order.
    const first = dynamo.client({ endpoint: proxy.url })
    const second = dynamo.client({ endpoint: proxy.url })
    const hold = proxy.holdReplies({ match: isUpdate })
    const answered: string[] = []
    const firstCall = first.send(increment(id)).then(({ Attributes }) => answered.push(`first:${Attributes?.hits?.N}`))
    await hold.untilPending(1) // applied by the server, answer held
    const secondCall = second
      .send(increment(id))
      .then(({ Attributes }) => answered.push(`second:${Attributes?.hits?.N}`))
    await hold.untilPending(2)
    expect(hold.replies().map((reply) => reply.index)).toEqual([0, 1])

    await hold.release([1])
    await secondCall
    expect(answered).toEqual(['second:2'])
    await hold.release([0])
    await firstCall
    expect(answered).toEqual(['second:2', 'first:1'])
    expect(hold.pending()).toBe(0)
    await hold.end()
  })

  it('refuses to release a reply queued behind a held one on the same connection', async () => {
    const hold = proxy.holdReplies()
    const socket = connect(proxy.port, '127.0.0.1')
    const get = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`
    socket.write(get + get)
    socket.on('data', () => {})
    await hold.untilPending(2)
    await expect(hold.release([1])).rejects.toThrow(/release that one first/)
    await hold.release([0, 1], { gapMs: 0 })
    expect(hold.pending()).toBe(0)
    socket.destroy()
    await hold.end()
  })
})

describe('the fault proxy in front of Redis', () => {
  let server: RedisServer
  let proxy: FaultProxy
  let through: RedisAddress
  const clients: Redis[] = []

  beforeAll(async () => {
    server = await startRedisServer()
    proxy = await startFaultProxy({ target: { host: server.host, port: server.port }, protocol: 'resp' })
    through = { host: proxy.host, port: proxy.port }
  })

  afterEach(() => proxy.passThrough())

  afterAll(async () => {
    for (const client of clients) client.disconnect()
    await proxy.stop()
    await server.stop()
  })

  function ioredis(options: RedisOptions = {}): Redis {
    const client = new Redis({ host: proxy.host, port: proxy.port, lazyConnect: true, ...options })
    client.on('error', () => {})
    clients.push(client)
    return client
  }

  it('counts each command and each reply of a pipeline, however TCP packs them', async () => {
    const client = ioredis()
    await client.connect()
    await client.ping()
    const before = proxy.stats
    const results = await client.pipeline().set('{p}:a', '1').incr('{p}:n').get('{p}:a').exec()
    expect(results?.map(([, value]) => value)).toEqual(['OK', 1, '1'])
    expect(proxy.stats.requests - before.requests).toBe(3)
    expect(proxy.stats.replies - before.replies).toBe(3)
  })

  it('apply then drop: the command ran, the caller saw the connection go', async () => {
    const key = `drop:${randomUUID()}`
    const fault = proxy.dropReplies({ times: 1, match: ({ request }) => request?.command?.[0] === 'INCR' })
    await expect(redisCommand(through, ['INCR', key])).rejects.toThrow()
    await fault.whenApplied()
    expect(await redisCommand(server, ['GET', key])).toBe('1')
  })

  it('apply then drop, with a client that resends what was unanswered: applied twice', async () => {
    const key = `resend:${randomUUID()}`
    const client = ioredis({ retryStrategy: () => 20 })
    await client.connect()
    proxy.dropReplies({ times: 1, match: ({ request }) => request?.command?.[0] === 'INCR' })
    // ioredis resends commands in flight after it reconnects (autoResendUnfulfilledCommands).
    expect(await client.incr(key)).toBe(2)
  })

  it('answers for the server: an error reply in place of the real one', async () => {
    const key = `answer:${randomUUID()}`
    proxy.answerWith('-LOADING Redis is loading the dataset in memory\r\n', {
      times: 1,
      match: ({ request }) => request?.command?.[0] === 'SET',
    })
    await expect(redisCommand(through, ['SET', key, 'v'])).rejects.toThrow(RespError)
    expect(await redisCommand(server, ['GET', key])).toBe('v')
  })

  it('delays reply by reply: a slow answer for one command does not slow another connection', async () => {
    const key = `delay:${randomUUID()}`
    proxy.delayReplies(({ request }) => (request?.command?.[0] === 'INCR' ? 400 : 0))
    const answered: string[] = []
    const slow = redisCommand(through, ['INCR', key]).then(() => answered.push('INCR'))
    await sleep(50) // most likely INCR reaches the server first; the order of the answers holds either way
    await redisCommand(through, ['GET', key]).then(() => answered.push('GET'))
    await slow
    expect(answered).toEqual(['GET', 'INCR'])
  })

  it('chunk mode: a reply is what the server sends between two client writes', async () => {
    const chunks = await startFaultProxy({ target: { host: server.host, port: server.port }, protocol: 'chunk' })
    try {
      const delay = chunks.delayReplies(200, { times: 1 })
      const started = performance.now()
      expect(await redisCommand({ host: chunks.host, port: chunks.port }, ['PING'])).toBe('PONG')
      expect(performance.now() - started).toBeGreaterThanOrEqual(190)
      expect(delay.applied).toBe(1)
      expect(chunks.stats).toMatchObject({ requests: 1, replies: 1, delivered: 1 })
    } finally {
      await chunks.stop()
    }
  })

  it('refuses answer500 outside HTTP', () => {
    expect(() => proxy.answer500()).toThrow(/http/)
  })
})

import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { CreateTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { circuitTableDefinition } from '@fleet-breaker/storage/dynamodb'

/**
 * Runs in the worker: starts dynalite on a free loopback port, reports the port, and stops when
 * told. Plain CommonJS, so the worker needs no TypeScript loader.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const dynalite = require(workerData.dynalitePath)
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }))
parentPort.on('message', () => {
  server.closeAllConnections?.()
  server.close(() => parentPort.close())
})
`

/**
 * A DynamoDB-compatible server (dynalite), in memory, running in a worker thread of this process.
 *
 * @example
 * ```ts
 * const dynamo = await startEmbeddedDynamoDB()
 * await dynamo.createTable('circuit-breakers')
 * const client = dynamo.client()
 * await dynamo.stop()
 * ```
 */
export interface EmbeddedDynamoDB {
  readonly endpoint: string
  /** A new client with its own connections, destroyed by {@link stop}. */
  client(config?: DynamoDBClientConfig): DynamoDBClient
  /** Creates a table with a string partition key `id`, as the breaker's table has. */
  createTable(tableName: string): Promise<void>
  /** Destroys the clients and stops the server. */
  stop(): Promise<void>
}

/**
 * Starts an {@link EmbeddedDynamoDB}. dynalite applies the writes to one item one after another;
 * in a thread of its own, that queue does not wait on the event loop of the fleet calling it, which
 * keeps a burst of writes from hundreds of simulated environments at a few milliseconds each.
 *
 * @example
 * ```ts
 * const dynamo = await startEmbeddedDynamoDB()
 * ```
 */
export async function startEmbeddedDynamoDB(): Promise<EmbeddedDynamoDB> {
  const dynalitePath = createRequire(import.meta.url).resolve('dynalite')
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { dynalitePath } })
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (message: { port: number }) => resolve(message.port))
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the dynalite worker exited with code ${code}`)))
  })
  const endpoint = `http://127.0.0.1:${port}`
  const clients: DynamoDBClient[] = []
  const client = (config: DynamoDBClientConfig = {}) => {
    const created = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      ...config,
    })
    clients.push(created)
    return created
  }
  return {
    endpoint,
    client,
    async createTable(tableName) {
      await client().send(new CreateTableCommand(circuitTableDefinition({ tableName })))
    },
    async stop() {
      for (const created of clients.splice(0)) created.destroy()
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      worker.postMessage('stop')
      await exited
    },
  }
}

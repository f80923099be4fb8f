import type { AddressInfo } from 'node:net'
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { circuitTableDefinition } from '@fleet-breaker/storage/dynamodb'
import dynalite from 'dynalite'

/** A DynamoDB-compatible server on loopback, holding the circuit table in memory. */
export interface LocalTable {
  readonly endpoint: string
  readonly tableName: string
  stop(): Promise<void>
}

/** Credentials and region for the local server; it checks neither. */
export const LOCAL_REGION = 'us-east-1'
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const

/** Starts dynalite on a free port and creates the circuit table there, as the SAM template would. */
export async function startLocalTable(tableName: string): Promise<LocalTable> {
  // The SDK warns once per process that it will soon need a newer Node; that is noise in a report.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const stop = () =>
    new Promise<void>((resolve, reject) => {
      server.close((error?: Error) => (error ? reject(error) : resolve()))
      // Idle keep-alive sockets (the admin client's, a child's not yet torn down) would hold `close` open.
      server.closeAllConnections()
    })
  const admin = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS })
  try {
    await admin.send(new CreateTableCommand(circuitTableDefinition({ tableName })))
  } catch (error) {
    await stop()
    throw error
  } finally {
    admin.destroy()
  }
  return { endpoint, tableName, stop }
}

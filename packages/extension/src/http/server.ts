import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from '@fleet-breaker/core'
import { ApiError, ApiErrorCode } from './errors.js'
import { checkOrigin } from './request.js'
import { dispatch, isHealthRequest, type RouteContext } from './routes.js'

export interface ApiServerOptions extends RouteContext {
  readonly port: number
  readonly token: string | undefined
  readonly logger: Logger
  /** True once SHUTDOWN arrived: requests other than health checks are refused. */
  readonly isShuttingDown: () => boolean
}

/** Connections one environment's function can reasonably hold open; more are refused. */
const MAX_CONNECTIONS = 512

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const payload = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
    ...headers,
  })
  res.end(payload)
}

function errorBody(code: ApiErrorCode, message: string) {
  return { error: { code, message } }
}

/**
 * The loopback HTTP API. It binds 127.0.0.1 only; every answer is JSON, every error
 * `{ "error": { "code", "message" } }`; nothing a client sends can throw out of a handler.
 */
export class ApiServer {
  readonly #server: Server
  readonly #options: ApiServerOptions
  readonly #token: Buffer | undefined

  constructor(options: ApiServerOptions) {
    this.#options = options
    this.#token = options.token === undefined ? undefined : Buffer.from(options.token)
    this.#server = createServer(
      {
        maxHeaderSize: 8_192,
        requestTimeout: 30_000,
        headersTimeout: 10_000,
        // Node looks for requests past these timeouts only every 30 s by default: a client
        // trickling its headers would hold one of the MAX_CONNECTIONS slots for up to 40 s.
        connectionsCheckingInterval: 1_000,
        // Longer than clients keep idle connections (Node's fetch: 4 s), so a client never reuses
        // a connection the server is closing, also across a freeze of the environment.
        keepAliveTimeout: 65_000,
      },
      (req, res) => {
        this.#handle(req, res).catch((error: unknown) => {
          options.logger.error('a request failed unexpectedly', { error })
          send(res, 500, errorBody(ApiErrorCode.INTERNAL_ERROR, 'internal error'))
        })
      },
    )
    this.#server.maxConnections = MAX_CONNECTIONS
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW'
      const body = JSON.stringify(
        tooLarge
          ? errorBody(ApiErrorCode.HEADERS_TOO_LARGE, 'the request headers are too large')
          : errorBody(ApiErrorCode.BAD_REQUEST, 'the request is not valid HTTP/1.1'),
      )
      if (socket.writable && error.code !== 'ECONNRESET') {
        socket.end(
          `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        )
      } else {
        socket.destroy()
      }
    })
  }

  /** Binds 127.0.0.1:`port`; resolves with the port bound (for port 0, the one chosen). */
  async listen(): Promise<number> {
    this.#server.listen(this.#options.port, '127.0.0.1')
    await Promise.race([
      once(this.#server, 'listening'),
      once(this.#server, 'error').then(([error]) => {
        throw error
      }),
    ])
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('the server has no TCP address')
    return address.port
  }

  /** Stops accepting connections and closes the idle ones; open requests may finish. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeIdleConnections()
    await closed
  }

  /** Ends every connection at once. */
  destroy(): void {
    this.#server.closeAllConnections()
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const health = isHealthRequest(req)
      checkOrigin(req, this.#token, health)
      if (this.#options.isShuttingDown() && !health) {
        throw new ApiError(503, ApiErrorCode.SHUTTING_DOWN, 'the execution environment is shutting down')
      }
      const body = await dispatch(req, this.#options)
      send(res, 200, body)
    } catch (error) {
      if (error instanceof ApiError) {
        // With `Connection: close` (a body too large, left unread) Node ends the connection after it.
        send(res, error.status, errorBody(error.code, error.message), error.headers)
        return
      }
      this.#options.logger.error('a request failed unexpectedly', { method: req.method, url: req.url, error })
      send(res, 500, errorBody(ApiErrorCode.INTERNAL_ERROR, 'internal error'))
    }
  }
}

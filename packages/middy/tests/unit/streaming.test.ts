import { PassThrough, Writable } from 'node:stream'
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web'
import { CircuitState } from '@fleet-breaker/core'
import { circuitBreaker, type MiddyMiddleware, settleCircuitBreakerPermits } from '@fleet-breaker/middy'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import middy7 from '@middy/core'
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse'
import middy5 from 'middy-core-5'
import middy6 from 'middy-core-6'
import { context, httpEvent, recorded, setup, until, watchSettlements } from '../support/chains.js'

/*
 * Streamed responses in real Middy chains: Middy's streaming mode on every major, real Node.js
 * streams (and web streams, which Middy 6 and 7 accept), and a stand-in for the `awslambda` global
 * that Lambda's Node.js runtime provides: `streamifyResponse` hands the handler Lambda's response
 * stream (here, a stream that keeps what it is sent), `HttpResponseStream.from` writes the HTTP
 * prelude before the body.
 */

/** What the runtime gives a streaming handler to write its response to; keeps what it is sent. */
class ResponseStream extends Writable {
  readonly #chunks: string[] = []

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#chunks.push(String(chunk))
    callback()
  }

  get text(): string {
    return this.#chunks.join('')
  }
}

type StreamingHandler = ((event: unknown, responseStream: Writable, context: unknown) => Promise<void>) & {
  use(middleware: MiddyMiddleware<unknown, unknown> | object): StreamingHandler
}
type Streamify = (handler: () => Promise<unknown>, plugin?: object) => StreamingHandler
type MiddyFactory = (handler: () => Promise<unknown>, plugin: object) => StreamingHandler

const streamingVersions: Array<[string, { readonly streamify: Streamify; readonly webStreams: boolean }]> = [
  [
    'Middy 5',
    {
      streamify: (handler, plugin) =>
        (middy5 as unknown as MiddyFactory)(handler, { ...plugin, streamifyResponse: true }),
      webStreams: false,
    },
  ],
  [
    'Middy 6',
    {
      streamify: (handler, plugin) =>
        (middy6 as unknown as MiddyFactory)(handler, { ...plugin, streamifyResponse: true }),
      webStreams: true,
    },
  ],
  [
    'Middy 7',
    {
      streamify: (handler, plugin) =>
        (middy7 as unknown as MiddyFactory)(handler, { ...plugin, executionMode: executionModeStreamifyResponse }),
      webStreams: true,
    },
  ],
]

/** A body the test feeds chunk by chunk, then ends, fails or gives up. */
interface Body {
  readonly stream: unknown
  push(text: string): void
  end(): void
  fail(error: Error): void
}

function nodeBody(): Body & { readonly stream: PassThrough } {
  const stream = new PassThrough()
  return {
    stream,
    push: (text) => void stream.write(text),
    end: () => void stream.end(),
    fail: (error) => void stream.destroy(error),
  }
}

function webBody(): Body {
  let controller: ReadableStreamDefaultController<string> | undefined
  const stream = new ReadableStream<string>({
    start(started) {
      controller = started
    },
  })
  return {
    stream,
    push: (text) => controller?.enqueue(text),
    end: () => controller?.close(),
    fail: (error) => controller?.error(error),
  }
}

const bodyKinds = (webStreams: boolean): Array<[string, () => Body]> => [
  ['Node.js Readable', nodeBody],
  ...(webStreams ? [['web ReadableStream', webBody] as [string, () => Body]] : []),
]

/** The two ways a handler returns a streamed body. */
const shapes: Array<[string, (body: Body) => unknown]> = [
  [
    'as the body of an HTTP response',
    (body) => ({ statusCode: 200, headers: { 'Content-Type': 'text/plain' }, body: body.stream }),
  ],
  ['as the response itself', (body) => body.stream],
]

const connectionReset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })

let preludes: object[] = []

beforeAll(() => {
  Reflect.set(globalThis, 'awslambda', {
    streamifyResponse: (handler: unknown) => handler,
    HttpResponseStream: {
      from: (responseStream: Writable, prelude: object) => {
        preludes.push(prelude)
        return responseStream
      },
    },
  })
})

afterAll(() => {
  Reflect.deleteProperty(globalThis, 'awslambda')
})

describe.each(streamingVersions)(
  'circuitBreaker with streamed responses on %s',
  (_version, { streamify, webStreams }) => {
    it.each(bodyKinds(webStreams))(
      'records a %s body as a success once it has been sent, not when the after hooks run',
      async (_kind, makeBody) => {
        const { breaker } = setup()
        const settled = watchSettlements(breaker)
        const body = makeBody()
        preludes = []
        const handler = streamify(async () => shapes[0]?.[1](body)).use(circuitBreaker({ breaker }))
        const responseStream = new ResponseStream()
        const invocation = handler(httpEvent, responseStream, context)
        body.push('quote: ')
        await until(() => responseStream.text.includes('quote'), 'the first chunk was sent')
        // The after hooks have run and the body is flowing: nothing is known yet.
        expect(settled).toEqual([[]])
        body.push('42')
        body.end()
        await invocation
        expect(responseStream.text).toBe('quote: 42')
        expect(preludes).toEqual([{ statusCode: 200, headers: { 'Content-Type': 'text/plain' } }])
        expect(settled).toEqual([['recordSuccess']])
      },
    )

    it.each(
      bodyKinds(webStreams).flatMap(([kind, makeBody]) =>
        shapes.map(([shape, respond]) => [kind, shape, makeBody, respond] as const),
      ),
    )(
      'counts a %s body %s that fails midway with a downstream error as a failure',
      async (_kind, _shape, makeBody, respond) => {
        const { breaker } = setup({ failureThreshold: 1 })
        const settled = watchSettlements(breaker)
        const body = makeBody()
        const handler = streamify(async () => respond(body)).use(circuitBreaker({ breaker }))
        const responseStream = new ResponseStream()
        const outcome = handler(httpEvent, responseStream, context).catch((error: unknown) => error)
        body.push('partial')
        await until(() => responseStream.text.includes('partial'), 'the first chunk was sent')
        body.fail(connectionReset())
        expect(await outcome).toMatchObject({ code: 'ECONNRESET' })
        expect(settled).toEqual([['recordError']])
        await recorded(settled)
        expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
      },
    )

    it('classifies the error a body fails with: a bug is not counted', async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => body.stream).use(circuitBreaker({ breaker }))
      const responseStream = new ResponseStream()
      const outcome = handler(httpEvent, responseStream, context).catch((error: unknown) => error)
      body.push('partial')
      await until(() => responseStream.text.includes('partial'), 'the first chunk was sent')
      body.fail(new TypeError("Cannot read properties of undefined (reading 'price')"))
      expect(await outcome).toBeInstanceOf(TypeError)
      expect(settled).toEqual([['recordError']])
      await recorded(settled)
      expect((await breaker.getState()).failures).toBe(0)
    })

    it('gives the permit back, not counted, when the body is destroyed without an error before its end', async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => body.stream).use(circuitBreaker({ breaker }))
      const responseStream = new ResponseStream()
      const outcome = handler(httpEvent, responseStream, context).catch((error: unknown) => error)
      body.push('partial')
      await until(() => responseStream.text.includes('partial'), 'the first chunk was sent')
      body.stream.destroy()
      expect(await outcome).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' })
      expect(settled).toEqual([['release']])
    })

    it('records a streamed response whose status is a failure at once, whatever its body does', async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => ({ statusCode: 503, body: body.stream })).use(circuitBreaker({ breaker }))
      const responseStream = new ResponseStream()
      const invocation = handler(httpEvent, responseStream, context)
      body.push('busy')
      await until(() => responseStream.text.includes('busy'), 'the first chunk was sent')
      expect(settled).toEqual([['recordFailure']])
      body.end()
      await invocation
      expect(settled).toEqual([['recordFailure']])
    })

    it('records a body still streaming at the deadline less the margin as a failure, and ignores its later end', async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => ({ statusCode: 200, body: body.stream })).use(
        circuitBreaker({ breaker, deadlineMarginMs: 100 }),
      )
      const responseStream = new ResponseStream()
      const invocation = handler(httpEvent, responseStream, { getRemainingTimeInMillis: () => 130 })
      body.push('partial')
      await until(() => settled.flat().length > 0, 'the deadline timer fired')
      expect(settled).toEqual([['recordFailure']])
      body.end()
      await invocation
      expect(settled).toEqual([['recordFailure']])
      await recorded(settled)
      expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    })

    it('times a streamed response to the end of its body for slowCallDurationMs', async () => {
      const { breaker, clock } = setup({ failureThreshold: 1, slowCallDurationMs: 1_000 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => body.stream).use(circuitBreaker({ breaker }))
      const responseStream = new ResponseStream()
      const invocation = handler(httpEvent, responseStream, context)
      body.push('slow')
      await until(() => responseStream.text.includes('slow'), 'the first chunk was sent')
      clock.advance(1_500)
      body.end()
      await invocation
      expect(settled).toEqual([['recordSuccess']])
      await recorded(settled)
      expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    })

    it("gives the permit back when another middleware's after hook fails before the body is sent", async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const responseValidator = { after: async () => Promise.reject(new Error('response failed validation')) }
      const handler = streamify(async () => body.stream)
        .use(responseValidator)
        .use(circuitBreaker({ breaker }))
      await expect(handler(httpEvent, new ResponseStream(), context)).rejects.toThrow('response failed validation')
      expect(settled).toEqual([['release']])
      body.stream.destroy()
    })

    it('leaves the permit to the body when settleCircuitBreakerPermits is the requestEnd hook (Middy 5 runs it before the body is sent)', async () => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const body = nodeBody()
      const handler = streamify(async () => body.stream, { requestEnd: settleCircuitBreakerPermits }).use(
        circuitBreaker({ breaker }),
      )
      const responseStream = new ResponseStream()
      const outcome = handler(httpEvent, responseStream, context).catch((error: unknown) => error)
      body.push('partial')
      await until(() => responseStream.text.includes('partial'), 'the first chunk was sent')
      expect(settled).toEqual([[]])
      body.fail(connectionReset())
      expect(await outcome).toMatchObject({ code: 'ECONNRESET' })
      expect(settled).toEqual([['recordError']])
    })
  },
)

import { CallTimeoutError, httpStatusOf, isServiceFailure, isServiceFailureResponse } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'

const withCode = (code: string) => Object.assign(new Error(code), { code })

describe('isServiceFailure', () => {
  it.each([
    ['a 503 in statusCode', Object.assign(new Error(), { statusCode: 503 })],
    ['a 500 in status', Object.assign(new Error(), { status: 500 })],
    ['a 502 from the AWS SDK', Object.assign(new Error(), { $metadata: { httpStatusCode: 502 } })],
    ['a 504 in response.status (axios)', Object.assign(new Error(), { response: { status: 504 } })],
    ['408 request timeout', Object.assign(new Error(), { statusCode: 408 })],
    ['429 too many requests', Object.assign(new Error(), { statusCode: 429 })],
    ['ECONNREFUSED', withCode('ECONNREFUSED')],
    ['ECONNRESET', withCode('ECONNRESET')],
    ['ETIMEDOUT', withCode('ETIMEDOUT')],
    ['EAI_AGAIN', withCode('EAI_AGAIN')],
    ['an undici socket error', withCode('UND_ERR_SOCKET')],
    [
      'fetch failed, caused by a refused connection',
      new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') }),
    ],
    ['a TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
    ['a CallTimeoutError', new CallTimeoutError({ circuitId: 'x', timeoutMs: 1 })],
    [
      'DynamoDB throttling (a 400)',
      Object.assign(new Error(), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }),
    ],
    [
      'an SDK error marked as throttling',
      Object.assign(new Error(), { $retryable: { throttling: true }, $metadata: { httpStatusCode: 400 } }),
    ],
    ['an SDK server fault', Object.assign(new Error(), { $fault: 'server' })],
  ])('counts %s', (_description, error) => {
    expect(isServiceFailure(error)).toBe(true)
  })

  it.each([
    ['a 404', Object.assign(new Error(), { statusCode: 404 })],
    [
      'a 400 from the AWS SDK',
      Object.assign(new Error(), { name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 } }),
    ],
    ['a 401', Object.assign(new Error(), { response: { status: 401 } })],
    ['a 409 conflict', Object.assign(new Error(), { status: 409 })],
    ['a plain validation error', Object.assign(new Error('email is required'), { name: 'ValidationError' })],
    ['a programming error', new TypeError('cannot read properties of undefined')],
    ['a thrown string', 'boom'],
    ['undefined', undefined],
  ])('does not count %s', (_description, error) => {
    expect(isServiceFailure(error)).toBe(false)
  })

  it('does not follow a cause chain forever', () => {
    const looped: { cause?: unknown } = new Error('loop')
    looped.cause = looped
    expect(isServiceFailure(looped)).toBe(false)
  })
})

describe('isServiceFailureResponse', () => {
  it('counts a fetch Response with a 5xx, 408 or 429 status', () => {
    expect(isServiceFailureResponse(new Response(null, { status: 503 }))).toBe(true)
    expect(isServiceFailureResponse(new Response(null, { status: 429 }))).toBe(true)
    expect(isServiceFailureResponse(new Response(null, { status: 404 }))).toBe(false)
    expect(isServiceFailureResponse(new Response('ok'))).toBe(false)
  })

  it('leaves other values alone, even with a status field', () => {
    expect(isServiceFailureResponse({ status: 500 })).toBe(false)
    expect(isServiceFailureResponse('500')).toBe(false)
  })
})

describe('httpStatusOf', () => {
  it('ignores values that are not HTTP statuses', () => {
    expect(httpStatusOf({ status: 'error' })).toBeUndefined()
    expect(httpStatusOf({ statusCode: 7 })).toBeUndefined()
    expect(httpStatusOf({ statusCode: 201 })).toBe(201)
  })
})

import { describe, expect, it } from '@jest/globals'
import { httpFramer, type MessageFramer, respFramer, type WireMessage } from '../message-framing.js'
import { encodeCommand, parseResp, RespError } from '../resp.js'

/** Feeds `input` in pieces of `size` bytes, as TCP may deliver it, and returns the messages' texts. */
function frame(framer: MessageFramer, input: string, size = input.length): string[] {
  const bytes = Buffer.from(input)
  const messages: WireMessage[] = []
  for (let at = 0; at < bytes.length; at += size) messages.push(...framer.push(bytes.subarray(at, at + size)))
  messages.push(...framer.end())
  return messages.map((message) => message.text)
}

const sizes = [1, 3, 7, 1_000]

describe('HTTP/1.1 framing', () => {
  const get = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'
  const post = 'POST / HTTP/1.1\r\nContent-Length: 5\r\nX-Amz-Target: DynamoDB_20120810.UpdateItem\r\n\r\nhello'
  const chunked =
    'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n'

  it.each(sizes)('cuts keep-alive requests apart however the bytes arrive (%i at a time)', (size) => {
    expect(frame(httpFramer('request'), get + post + chunked + get, size)).toEqual([get, post, chunked, get])
  })

  it('gives the start line and the headers, names in lower case', () => {
    const [message] = httpFramer('request').push(Buffer.from(post))
    expect(message?.http?.startLine).toBe('POST / HTTP/1.1')
    expect(message?.http?.headers.get('x-amz-target')).toBe('DynamoDB_20120810.UpdateItem')
  })

  it.each(sizes)('cuts responses apart: lengths, no bodies, interim 100s, HEAD (%i at a time)', (size) => {
    const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'
    const noContent = 'HTTP/1.1 204 No Content\r\n\r\n'
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n'
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'
    const methods = ['POST', 'POST', 'POST', 'HEAD']
    const framer = httpFramer('response', (ahead) => methods[ahead])
    const texts: string[] = []
    const bytes = Buffer.from(ok + noContent + interim + ok + head)
    for (let at = 0; at < bytes.length; at += size) {
      for (const message of framer.push(bytes.subarray(at, at + size))) {
        texts.push(message.text)
        if (!message.interim) methods.shift()
      }
    }
    expect(texts).toEqual([ok, noContent, interim, ok, head])
  })

  it('ends a response without a length when the server closes', () => {
    const response = 'HTTP/1.0 200 OK\r\n\r\nuntil the end'
    expect(frame(httpFramer('response'), response, 4)).toEqual([response])
  })
})

describe('RESP framing', () => {
  it.each(sizes)('cuts pipelined commands apart, inline ones too (%i at a time)', (size) => {
    const set = encodeCommand(['SET', '{c}:a', 'x y'])
    const incr = encodeCommand(['incr', '{c}:n'])
    const messages: WireMessage[] = []
    const framer = respFramer('request')
    const bytes = Buffer.concat([set, Buffer.from('PING\r\n'), incr])
    for (let at = 0; at < bytes.length; at += size) messages.push(...framer.push(bytes.subarray(at, at + size)))
    expect(messages.map((message) => message.command)).toEqual([['SET', '{c}:a', 'x y'], ['PING'], ['INCR', '{c}:n']])
  })

  it.each(sizes)('cuts RESP2 and RESP3 replies apart (%i at a time)', (size) => {
    const replies = [
      '+OK\r\n',
      '-ERR wrong\r\n',
      ':42\r\n',
      '$5\r\nhello\r\n',
      '$-1\r\n',
      '*2\r\n$1\r\na\r\n*1\r\n:1\r\n',
      '_\r\n',
      '#t\r\n',
      ',1.5\r\n',
      '(12345678901234567890\r\n',
      '%1\r\n+k\r\n:1\r\n',
      '~1\r\n+m\r\n',
      '>2\r\n+message\r\n+hi\r\n',
      '|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n',
      '=8\r\ntxt:abcd\r\n',
      '!3\r\nbad\r\n',
    ]
    expect(frame(respFramer('response'), replies.join(''), size)).toEqual(replies)
  })

  it('decodes values', () => {
    expect(parseResp(Buffer.from('*3\r\n$3\r\nabc\r\n:7\r\n$-1\r\n'))?.value).toEqual(['abc', 7, null])
    expect(parseResp(Buffer.from('-MOVED 1 127.0.0.1:7000\r\n'))?.value).toBeInstanceOf(RespError)
    expect(parseResp(Buffer.from('$5\r\nhel'))).toBeUndefined()
  })
})

import { isFailoverExhaustedError } from '@fleet-breaker/core'
import { closeStoresFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../test-support/dynalite.js'
import { type HttpDownstream, startHttpDownstream } from '../../test-support/http-downstream.js'
import { useLocalDynamoDB } from '../../test-support/lambda-environment.js'
import type { EmailEvent } from './handler.js'

let dynamo: LocalDynamoDB
let ses: HttpDownstream
let sendgrid: HttpDownstream
let mailgun: HttpDownstream
let restoreEnvironment: () => void
let handler: (event: EmailEvent) => Promise<{ provider: string; skipped: string[] }>

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable('email-breakers')
  ;[ses, sendgrid, mailgun] = await Promise.all([startHttpDownstream(), startHttpDownstream(), startHttpDownstream()])
  restoreEnvironment = useLocalDynamoDB(dynamo, 'email-breakers', {
    EMAIL_PROVIDER_URLS: `ses=${ses.url},sendgrid=${sendgrid.url},mailgun=${mailgun.url}`,
  })
  ;({ handler } = await import('./handler.js'))
})

afterAll(async () => {
  await closeStoresFromEnvironment()
  restoreEnvironment()
  await Promise.all([ses.stop(), sendgrid.stop(), mailgun.stop()])
  await dynamo.stop()
})

const email: EmailEvent = { to: 'ada@example.com', subject: 'Your order', text: 'It shipped.' }

describe('the email failover example', () => {
  it('sends through the first provider while it is healthy', async () => {
    expect(await handler(email)).toEqual({ provider: 'ses', skipped: [] })
  })

  it('fails over to the next provider, and stops calling the failing one once its circuit opens', async () => {
    ses.status = 503
    for (let i = 0; i < 3; i++) expect(await handler(email)).toMatchObject({ provider: 'sendgrid', skipped: ['ses'] })
    const sesCalls = ses.total
    expect(await handler(email)).toEqual({ provider: 'sendgrid', skipped: ['ses'] })
    expect(ses.total).toBe(sesCalls)
  })

  it('throws when every provider is down, so Lambda retries keep the email', async () => {
    sendgrid.status = 500
    mailgun.status = 502
    const error = await handler(email).catch((caught: unknown) => caught)
    expect(isFailoverExhaustedError(error)).toBe(true)
  })
})

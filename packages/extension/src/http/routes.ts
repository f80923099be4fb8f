import type { IncomingMessage } from 'node:http'
import { isValidCircuitId, MAX_HTTP_CIRCUIT_ID_LENGTH } from '../circuits.js'
import { Outcome } from '../permit-ledger.js'
import { AdminAction, type AdminRequest, type CircuitService } from '../service.js'
import { ApiError, ApiErrorCode } from './errors.js'
import { invocationOf, readJsonBody } from './request.js'

/** What a route needs besides the request. */
export interface RouteContext {
  readonly service: CircuitService
  readonly adminEnabled: boolean
  readonly health: () => Record<string, unknown>
}

type Handler = (req: IncomingMessage, params: readonly string[], context: RouteContext) => Promise<unknown>

interface Route {
  /** Path segments; `:circuit` and `:permit` capture one segment each. */
  readonly pattern: readonly string[]
  readonly method: 'GET' | 'POST'
  readonly handle: Handler
}

const PERMIT_ID = /^[A-Za-z0-9_-]{22}$/

function circuitParam(raw: string): string {
  if (!isValidCircuitId(raw)) {
    throw new ApiError(
      400,
      ApiErrorCode.INVALID_CIRCUIT_ID,
      `a circuit id has 1 to ${MAX_HTTP_CIRCUIT_ID_LENGTH} characters: letters, digits and . _ - : @ + = ~, starting with a letter or digit`,
    )
  }
  return raw
}

function unknownPermit(): ApiError {
  return new ApiError(
    404,
    ApiErrorCode.UNKNOWN_PERMIT,
    'no such permit: never issued, already settled, or released when its invocation ended',
  )
}

const settlePermit =
  (outcome: Outcome): Handler =>
  async (req, [permit], { service }) => {
    await readJsonBody(req)
    if (permit === undefined || !PERMIT_ID.test(permit)) throw unknownPermit()
    const settling = service.settle(permit, outcome)
    if (settling === undefined) throw unknownPermit()
    return { verdict: await settling }
  }

const reportOutcome =
  (outcome: typeof Outcome.SUCCESS | typeof Outcome.FAILURE): Handler =>
  async (req, [circuit], { service }) => {
    await readJsonBody(req)
    const verdict = await service.report(circuitParam(circuit ?? ''), outcome)
    return { recorded: verdict !== 'ignored', verdict }
  }

function adminRequest(body: Record<string, unknown>): AdminRequest {
  const { reason, durationMs, actor } = body
  if (reason !== undefined && typeof reason !== 'string') {
    throw new ApiError(400, ApiErrorCode.INVALID_BODY, '"reason" must be a string')
  }
  if (actor !== undefined && typeof actor !== 'string') {
    throw new ApiError(400, ApiErrorCode.INVALID_BODY, '"actor" must be a string')
  }
  if (durationMs !== undefined && typeof durationMs !== 'number') {
    throw new ApiError(400, ApiErrorCode.INVALID_BODY, '"durationMs" must be a number of milliseconds')
  }
  return {
    ...(reason === undefined ? {} : { reason }),
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(actor === undefined ? {} : { actor }),
  }
}

const administer =
  (action: AdminAction): Handler =>
  async (req, [circuit], { service, adminEnabled }) => {
    if (!adminEnabled) {
      throw new ApiError(
        403,
        ApiErrorCode.ADMIN_DISABLED,
        'manual control over HTTP is off; set CIRCUIT_BREAKER_EXTENSION_ADMIN=true to enable it',
      )
    }
    const body = await readJsonBody(req)
    return service.administer(circuitParam(circuit ?? ''), action, adminRequest(body))
  }

const ROUTES: readonly Route[] = [
  { pattern: ['health'], method: 'GET', handle: async (_req, _params, { health }) => health() },
  // circuitbreaker-lambda's API.
  {
    pattern: ['circuit', ':circuit'],
    method: 'GET',
    handle: (req, [circuit], { service }) => service.check(circuitParam(circuit ?? ''), invocationOf(req)),
  },
  { pattern: ['circuit', ':circuit', 'success'], method: 'POST', handle: reportOutcome(Outcome.SUCCESS) },
  { pattern: ['circuit', ':circuit', 'failure'], method: 'POST', handle: reportOutcome(Outcome.FAILURE) },
  // The permit API.
  {
    pattern: ['circuit', ':circuit', 'admit'],
    method: 'POST',
    handle: async (req, [circuit], { service }) => {
      await readJsonBody(req)
      return service.admit(circuitParam(circuit ?? ''), invocationOf(req))
    },
  },
  {
    pattern: ['circuit', ':circuit', 'state'],
    method: 'GET',
    handle: (_req, [circuit], { service }) => service.state(circuitParam(circuit ?? '')),
  },
  { pattern: ['permits', ':permit', 'success'], method: 'POST', handle: settlePermit(Outcome.SUCCESS) },
  { pattern: ['permits', ':permit', 'failure'], method: 'POST', handle: settlePermit(Outcome.FAILURE) },
  { pattern: ['permits', ':permit', 'release'], method: 'POST', handle: settlePermit(Outcome.RELEASE) },
  // Manual control, when enabled.
  ...Object.values(AdminAction).map(
    (action): Route => ({ pattern: ['circuit', ':circuit', action], method: 'POST', handle: administer(action) }),
  ),
]

function matches(pattern: readonly string[], segments: readonly string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined
  const params: string[] = []
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string
    const actual = segments[i] as string
    if (expected.startsWith(':')) params.push(actual)
    else if (expected !== actual) return undefined
  }
  return params
}

/** The path's segments, percent-decoded; a malformed path is a 400, an empty segment a 404. */
function segmentsOf(url: string | undefined): string[] {
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) {
    throw new ApiError(400, ApiErrorCode.BAD_REQUEST, 'the request target must be a path such as /circuit/payment-api')
  }
  const path = url.split('?')[0] as string
  const raw = path.slice(1).split('/')
  if (raw.some((segment) => segment === '')) throw notFound()
  try {
    return raw.map((segment) => decodeURIComponent(segment))
  } catch {
    throw new ApiError(400, ApiErrorCode.BAD_REQUEST, 'the path has a malformed percent-encoding')
  }
}

function notFound(): ApiError {
  return new ApiError(
    404,
    ApiErrorCode.NOT_FOUND,
    'no such route; see GET /health, GET /circuit/{id}, POST /circuit/{id}/admit',
  )
}

/** Whether the request is for `GET /health`, which needs no token. */
export function isHealthRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?') === true)
}

/** Finds the route for a request and runs it; unknown paths are 404, known paths with another method 405. */
export async function dispatch(req: IncomingMessage, context: RouteContext): Promise<unknown> {
  const segments = segmentsOf(req.url)
  const allowed: string[] = []
  for (const route of ROUTES) {
    const params = matches(route.pattern, segments)
    if (params === undefined) continue
    if (route.method === req.method) return route.handle(req, params, context)
    allowed.push(route.method)
  }
  if (allowed.length === 0) throw notFound()
  const allow = [...new Set(allowed)].join(', ')
  throw new ApiError(405, ApiErrorCode.METHOD_NOT_ALLOWED, `use ${allow} for this path`, { Allow: allow })
}

/*
 * A small interpreter of the Amazon States Language states the example state machine uses (Pass,
 * Task, Choice, Wait, Succeed, Fail, with Parameters, ResultPath, Retry, Catch and the
 * States.MathAdd intrinsic), so tests drive the real definition with the real task handlers.
 * Lambda tasks behave as Step Functions sees them: the handler's output goes through JSON, and a
 * thrown error becomes `{ Error: error.name, Cause: <the runtime's JSON> }`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type StateDefinition = Record<string, Json>

export interface StateMachineDefinition {
  readonly StartAt: string
  readonly States: Record<string, StateDefinition>
}

export interface RunOptions {
  /** The task handlers by the `Resource` the definition names. */
  readonly resources: Readonly<Record<string, (input: unknown) => Promise<unknown>>>
  /** Called by a Wait state (a test advances its clock). */
  readonly wait: (seconds: number) => void | Promise<void>
  readonly maxSteps?: number
}

export interface Execution {
  readonly status: 'SUCCEEDED' | 'FAILED'
  /** The states entered, in order. */
  readonly path: readonly string[]
  readonly output?: Json
  readonly error?: string
  readonly cause?: string
}

/** A task's error as Step Functions sees it: its name (`Error`) and the runtime's JSON (`Cause`). */
class TaskFailure extends Error {
  readonly error: string
  readonly causeText: string

  constructor(error: string, causeText: string) {
    super(error)
    this.error = error
    this.causeText = causeText
  }
}

export async function runStateMachine(
  definition: StateMachineDefinition,
  input: Json,
  options: RunOptions,
): Promise<Execution> {
  const path: string[] = []
  let data: Json = input
  let current = definition.StartAt
  for (let step = 0; step < (options.maxSteps ?? 100); step++) {
    path.push(current)
    const state = definition.States[current]
    if (state === undefined) throw new Error(`no state ${current}`)
    switch (state.Type) {
      case 'Succeed':
        return { status: 'SUCCEEDED', path, output: data }
      case 'Fail':
        return { status: 'FAILED', path, error: String(state.Error), cause: String(state.Cause) }
      case 'Pass': {
        const result =
          state.Parameters !== undefined ? resolveParameters(state.Parameters, data) : (state.Result ?? data)
        data = applyResultPath(data, state.ResultPath, result)
        current = String(state.Next)
        break
      }
      case 'Wait': {
        const seconds = state.SecondsPath !== undefined ? getPath(data, String(state.SecondsPath)) : state.Seconds
        if (typeof seconds !== 'number' || seconds < 0) throw new Error(`${current}: Wait needs a number of seconds`)
        await options.wait(seconds)
        current = String(state.Next)
        break
      }
      case 'Choice': {
        const choices = (state.Choices ?? []) as StateDefinition[]
        const chosen = choices.find((rule) => matches(rule, data))
        current = String(chosen?.Next ?? state.Default)
        if (current === 'undefined') throw new Error('States.NoChoiceMatched')
        break
      }
      case 'Task': {
        const handler = options.resources[String(state.Resource)]
        if (handler === undefined) throw new Error(`no handler for ${String(state.Resource)}`)
        const params = state.Parameters === undefined ? data : resolveParameters(state.Parameters, data)
        try {
          const result = await invokeWithRetry(handler, params, (state.Retry ?? []) as StateDefinition[])
          data = applyResultPath(data, state.ResultPath, result)
          current = String(state.Next)
        } catch (failure) {
          if (!(failure instanceof TaskFailure)) throw failure
          const catcher = ((state.Catch ?? []) as StateDefinition[]).find((rule) => errorMatches(rule, failure.error))
          if (catcher === undefined) return { status: 'FAILED', path, error: failure.error, cause: failure.causeText }
          data = applyResultPath(data, catcher.ResultPath, { Error: failure.error, Cause: failure.causeText })
          current = String(catcher.Next)
        }
        break
      }
      default:
        throw new Error(`${current}: state type ${String(state.Type)} is not interpreted`)
    }
  }
  throw new Error('the execution did not end')
}

async function invokeWithRetry(
  handler: (input: unknown) => Promise<unknown>,
  input: Json,
  retriers: readonly StateDefinition[],
): Promise<Json> {
  const attempts = new Map<StateDefinition, number>()
  for (;;) {
    try {
      // A Lambda's output reaches the state machine as JSON.
      return JSON.parse(JSON.stringify((await handler(structuredClone(input))) ?? null)) as Json
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error'
      const message = error instanceof Error ? error.message : String(error)
      const retrier = retriers.find((rule) => errorMatches(rule, name))
      const made = retrier === undefined ? 0 : (attempts.get(retrier) ?? 0)
      if (retrier === undefined || made >= Number(retrier.MaxAttempts ?? 3)) {
        throw new TaskFailure(name, JSON.stringify({ errorType: name, errorMessage: message }))
      }
      attempts.set(retrier, made + 1)
    }
  }
}

function errorMatches(rule: StateDefinition, error: string): boolean {
  const names = (rule.ErrorEquals ?? []) as string[]
  return names.includes(error) || names.includes('States.ALL')
}

function matches(rule: StateDefinition, data: Json): boolean {
  if (Array.isArray(rule.And)) return (rule.And as StateDefinition[]).every((inner) => matches(inner, data))
  const value = getPath(data, String(rule.Variable))
  if (rule.BooleanEquals !== undefined) return value === rule.BooleanEquals
  if (rule.NumericLessThanEquals !== undefined)
    return typeof value === 'number' && value <= Number(rule.NumericLessThanEquals)
  if (rule.NumericLessThan !== undefined) return typeof value === 'number' && value < Number(rule.NumericLessThan)
  throw new Error(`Choice rule not interpreted: ${JSON.stringify(rule)}`)
}

function resolveParameters(template: Json, data: Json): Json {
  if (Array.isArray(template)) return template.map((item) => resolveParameters(item, data))
  if (typeof template !== 'object' || template === null) return template
  const out: Record<string, Json> = {}
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) out[key.slice(0, -2)] = evaluate(String(value), data)
    else out[key] = resolveParameters(value, data)
  }
  return out
}

function evaluate(expression: string, data: Json): Json {
  const intrinsic = /^States\.MathAdd\((.+),(.+)\)$/.exec(expression)
  if (intrinsic !== null) {
    const [a, b] = [intrinsic[1], intrinsic[2]].map((arg) => {
      const trimmed = (arg ?? '').trim()
      return trimmed.startsWith('$') ? getPath(data, trimmed) : Number(trimmed)
    })
    return Number(a) + Number(b)
  }
  return getPath(data, expression)
}

function getPath(data: Json, path: string): Json {
  if (path === '$') return data
  let value: Json | undefined = data
  for (const key of path.replace(/^\$\./, '').split('.')) {
    value = typeof value === 'object' && value !== null && !Array.isArray(value) ? value[key] : undefined
    // Step Functions fails a reference to a missing field; so does this.
    if (value === undefined) throw new Error(`States.Runtime: ${path} is not in the state's input`)
  }
  return value as Json
}

function applyResultPath(data: Json, resultPath: Json | undefined, result: Json): Json {
  if (resultPath === null) return data
  if (resultPath === undefined || resultPath === '$') return result
  const keys = String(resultPath).replace(/^\$\./, '').split('.')
  const copy = structuredClone(data) as Record<string, Json>
  let target = copy
  for (const key of keys.slice(0, -1)) {
    const next = target[key]
    target[key] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {}
    target = target[key] as Record<string, Json>
  }
  target[keys.at(-1) as string] = result
  return copy
}

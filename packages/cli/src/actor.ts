import { userInfo } from 'node:os'
import { UsageError } from './errors.js'

/** How long the caller-identity lookup may take before the OS user is used instead. */
export const CALLER_IDENTITY_TIMEOUT_MS = 2_000

/**
 * Who is making a change, for the audit trail: `--actor` when given, else the AWS caller identity
 * (the ARN STS `GetCallerIdentity` returns, so the record names the role and session), else the
 * operating-system user. The lookup is short and silent: without credentials, or without a network
 * route to STS, the OS user is used.
 *
 * @example
 * ```ts
 * const actor = await resolveActor(undefined) // 'arn:aws:sts::123456789012:assumed-role/Oncall/alice'
 * ```
 */
export async function resolveActor(explicit: string | undefined): Promise<string> {
  if (explicit !== undefined) {
    const given = explicit.trim()
    if (given === '') throw new UsageError('--actor must name who makes the change; received ""')
    return given
  }
  return (await callerIdentity()) ?? osUser()
}

async function callerIdentity(): Promise<string | undefined> {
  const signal = AbortSignal.timeout(CALLER_IDENTITY_TIMEOUT_MS)
  let client: { destroy(): void } | undefined
  try {
    const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts')
    const sts = new STSClient({
      region: process.env.AWS_REGION ?? 'us-east-1',
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: CALLER_IDENTITY_TIMEOUT_MS },
    })
    client = sts
    const identity = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal })
    return identity.Arn?.trim() || undefined
  } catch {
    // No credentials, no network, no permission: the OS user names the operator instead.
    return undefined
  } finally {
    client?.destroy()
  }
}

function osUser(): string {
  try {
    return userInfo().username
  } catch {
    // A uid without a passwd entry (some containers).
    return process.env.USER ?? process.env.LOGNAME ?? 'unknown'
  }
}

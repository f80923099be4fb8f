import { randomUUID } from 'node:crypto'

/**
 * Names this execution environment (this process) among the fleet, for the `minEnvironments`
 * quorum: every breaker in the process reports failures under it. A Lambda execution environment
 * is one process, so the id lives exactly as long as the environment.
 */
export const ENVIRONMENT_ID: string = randomUUID()

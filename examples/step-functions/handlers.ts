/*
 * The circuit tasks of the Step Functions example (see circuit-breaker.asl.json and the SAM
 * template), which guard the protected function the template names (ProtectedFunctionArn).
 */
import { checkCircuitTask, recordOutcomeTask } from '@fleet-breaker/lambda'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'

const store = new DynamoDBStore({ tableName: process.env.CIRCUIT_BREAKER_TABLE ?? 'circuit-breakers' })
/** The same breaker options in both tasks: the probe lease covers the protected task with its retries. */
const options = { store, breakerOptions: { probeLeaseMs: 120_000 }, circuits: ['payment-api'] }

export const checkCircuit = checkCircuitTask(options)
export const recordOutcome = recordOutcomeTask(options)

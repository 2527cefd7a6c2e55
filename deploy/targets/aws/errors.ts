/**
 * The AWS boundary: SDK errors become AmpsUserErrors here, once, with a message a user can act on.
 * Everything that is not an AWS/credentials/network error passes through unchanged (a bug in amps).
 */
import {AmpsUserError} from '../../../src/errors.js'

/** The fields of an InvokeCommandOutput we read (its Payload is a Uint8Array subclass). */
export interface InvokeResultLike {
  FunctionError?: string
  Payload?: Uint8Array
  StatusCode?: number
}

/** What amps was doing when AWS answered with an error; named in the message. */
export interface AwsErrorContext {
  /** e.g. "CreateFunction amps-m-1a2b3c4d-stage-1" */
  action: string
  region: string
  /** set on invoke/destroy, where a missing function means "not deployed" */
  functionName?: string
  /** 'invoke' and 'destroy' turn ResourceNotFoundException into AWS_NOT_FOUND */
  phase?: 'deploy' | 'invoke' | 'destroy'
}

/** The parts of an SDK ServiceException (or CredentialsProviderError) we read. */
interface AwsErrorShape {
  name?: string
  message?: string
  code?: string
  $fault?: 'client' | 'server'
  $metadata?: {httpStatusCode?: number; requestId?: string}
}

const ACCESS_DENIED_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnauthorizedOperation',
  'KMSAccessDeniedException',
  'CredentialsProviderError',
  'TokenProviderError',
])

const NETWORK_CODES = new Set(['ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH'])

export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as AwsErrorShape).name : undefined
}

export function httpStatus(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? (error as AwsErrorShape).$metadata?.httpStatusCode : undefined
}

/** An error that came back from an AWS service (it carries the SDK's $metadata or $fault). */
export function isAwsServiceError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const e = error as AwsErrorShape
  return e.$metadata !== undefined || e.$fault !== undefined
}

export function isNotFound(error: unknown): boolean {
  const name = errorName(error)
  return (
    name === 'ResourceNotFoundException' ||
    name === 'NoSuchEntityException' ||
    name === 'NoSuchEntity' ||
    name === 'NotFound' ||
    name === 'NoSuchBucket' ||
    name === 'NoSuchKey'
  )
}

function isAccessDenied(error: unknown): boolean {
  const name = errorName(error)
  return name !== undefined && ACCESS_DENIED_NAMES.has(name)
}

/**
 * Turn anything thrown at the AWS boundary into an AmpsUserError when it is the user's to fix
 * (credentials, permissions, region, a missing function, a quota, a service-side rejection).
 * Non-AWS errors (bugs) are returned unchanged so they surface as bugs.
 */
export function toAmpsError(error: unknown, ctx: AwsErrorContext): unknown {
  if (error instanceof AmpsUserError) return error
  const e = (typeof error === 'object' && error !== null ? error : {}) as AwsErrorShape
  const name = e.name ?? 'Error'
  const message = (e.message ?? String(error)).trim()
  const regionHint = `Check --region (now ${ctx.region}): functions live in one region.`

  if (isAccessDenied(error)) {
    const noCredentials = name === 'CredentialsProviderError' || name === 'TokenProviderError'
    return new AmpsUserError(
      'AWS_ACCESS_DENIED',
      noCredentials ? `no AWS credentials found for ${ctx.action}: ${message}` : `AWS denied ${ctx.action} in ${ctx.region}: ${name}: ${message}`,
      {
        suggestions: [
          'Set AWS_PROFILE to a profile in ~/.aws/config (or pass --profile), or export AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.',
          'The identity needs lambda:*Function*, lambda:PublishVersion, iam:CreateRole/PutRolePolicy/PassRole (with --create-role) and s3:* on the amps bucket.',
          regionHint,
        ],
        details: {awsError: name, action: ctx.action, region: ctx.region},
      },
    )
  }

  if (name === 'ResourceNotFoundException' && ctx.functionName && ctx.phase !== 'deploy') {
    return new AmpsUserError('AWS_NOT_FOUND', `function ${ctx.functionName} not found in ${ctx.region}; run \`amps deploy\` first`, {
      suggestions: ['Run `amps deploy --target aws` with the same plan.', regionHint],
      details: {awsError: name},
    })
  }

  const code = (error as {code?: string} | undefined)?.code
  if (!isAwsServiceError(error) && code && NETWORK_CODES.has(code)) {
    return new AmpsUserError('AWS_ERROR', `could not reach AWS for ${ctx.action} (${code}): ${message}`, {
      suggestions: [regionHint, 'Check the network connection and any HTTPS proxy settings.'],
      details: {networkError: code},
    })
  }

  // the SDK's HTTP handler gives up on a connection or a response (no $metadata: AWS never answered)
  if (!isAwsServiceError(error) && (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException')) {
    return new AmpsUserError('AWS_ERROR', `${ctx.action} timed out: ${message}`, {
      suggestions: ['Rerun the same command: it resumes from what deployment.json records.', 'Check the network connection and any HTTPS proxy settings.'],
      details: {awsError: name, action: ctx.action, region: ctx.region},
    })
  }

  if (!isAwsServiceError(error)) return error

  const suggestions: string[] = []
  if (name === 'CodeStorageExceededException') {
    suggestions.push('Delete old function versions or unused functions in this region (75 GB code storage per region by default).')
  } else if (name === 'InvalidParameterValueException' && /unzipped size/i.test(message)) {
    suggestions.push('Plan with more stages (`amps plan --stages N`) so each stage package stays under 250 MB unzipped.')
  } else if (name === 'TooManyRequestsException' || name === 'ResourceConflictException') {
    suggestions.push('AWS kept rejecting the request after several retries; wait a minute and rerun the same command (it resumes).')
  } else {
    suggestions.push(regionHint)
  }
  return new AmpsUserError('AWS_ERROR', `${ctx.action} failed: ${name}: ${message}`, {
    suggestions,
    details: {awsError: name, action: ctx.action, region: ctx.region, requestId: e.$metadata?.requestId},
  })
}

/** The stage an Invoke went to, as the STAGE_FAILED message names it. */
export interface InvokedStage {
  functionName: string
  stageIndex: number
  /** how the message names the stage (default "stage <stageIndex>") */
  label?: string
  /** the local target's log file; without it the suggestion is the CloudWatch tail command */
  logPath?: string
}

/**
 * Map the output of an InvokeCommand to an AmpsUserError when the function threw. The one mapping
 * for both targets (the coordinator uses it; the local runner answers like Lambda).
 * Lambda answers HTTP 200 with `FunctionError` set ("Unhandled" or "Handled") and a payload like
 * {"errorType":"Error","errorMessage":"...","trace":[...]}; the caller must check it.
 * Returns undefined when the invocation succeeded.
 */
export function invokeOutputError(output: InvokeResultLike, stage: InvokedStage): AmpsUserError | undefined {
  if (!output.FunctionError) return undefined
  const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : ''
  let errorType: string | undefined
  let errorMessage: string | undefined
  try {
    const parsed = JSON.parse(text) as {errorType?: unknown; errorMessage?: unknown}
    if (typeof parsed.errorType === 'string') errorType = parsed.errorType
    if (typeof parsed.errorMessage === 'string') errorMessage = parsed.errorMessage
  } catch {
    // not JSON: show the raw text (truncated)
  }
  const shown = errorMessage ?? (text.length > 0 ? text.slice(0, 500) : 'no error message in the payload')
  const timedOut = /timed out/i.test(shown)
  const outOfMemory = /out of memory|Runtime\.OutOfMemory|Runtime exited with error: signal: killed/i.test(`${errorType ?? ''} ${shown}`)
  const suggestions: string[] = []
  if (errorType === 'PayloadInvalid') {
    suggestions.push("The request did not match the stage's expected inputs: check the input shape and dtype against the model.")
  }
  if (outOfMemory) suggestions.push('The stage ran out of memory: re-plan with more memory for this stage.')
  if (timedOut) suggestions.push('The stage hit its timeout: re-plan with a larger timeout or more memory.')
  suggestions.push(stage.logPath ? `Its log: ${stage.logPath}` : `Read the function's log: aws logs tail /aws/lambda/${stage.functionName} --since 10m`)
  const label = stage.label ?? `stage ${stage.stageIndex}`
  return new AmpsUserError('STAGE_FAILED', `${label} (${stage.functionName}) failed: ${errorType ? errorType + ': ' : ''}${shown}`, {
    suggestions,
    details: {
      stageIndex: stage.stageIndex,
      functionName: stage.functionName,
      functionError: output.FunctionError,
      errorType,
      errorMessage,
      statusCode: output.StatusCode,
    },
  })
}

/** Throw the AmpsUserError from invokeOutputError when the function threw. */
export function assertInvokeOk(output: InvokeResultLike, stage: InvokedStage): void {
  const error = invokeOutputError(output, stage)
  if (error) throw error
}

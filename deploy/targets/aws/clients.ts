/**
 * The three SDK clients the AWS target uses. Credentials come from the SDK's default chain
 * (env vars, AWS_PROFILE / the `profile` option, SSO, web identity, container/instance roles).
 */
import {IAMClient} from '@aws-sdk/client-iam'
import {LambdaClient} from '@aws-sdk/client-lambda'
import {S3Client} from '@aws-sdk/client-s3'

export interface AwsClients {
  lambda: LambdaClient
  s3: S3Client
  iam: IAMClient
}

export function createAwsClients(opts: {region: string; profile?: string}): AwsClients {
  const config = {region: opts.region, ...(opts.profile ? {profile: opts.profile} : {})}
  return {
    lambda: new LambdaClient(config),
    s3: new S3Client(config),
    iam: new IAMClient(config),
  }
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.lambda.destroy()
  clients.s3.destroy()
  clients.iam.destroy()
}

/**
 * The three SDK clients the AWS target uses. Credentials come from the SDK's default chain
 * (env vars, AWS_PROFILE / the `profile` option, SSO, web identity, container/instance roles).
 */
import {IAMClient} from '@aws-sdk/client-iam'
import {LambdaClient} from '@aws-sdk/client-lambda'
import {S3Client} from '@aws-sdk/client-s3'

import {type AwsConnection, sdkClientConfig} from './config.js'

export interface AwsClients {
  lambda: LambdaClient
  s3: S3Client
  iam: IAMClient
}

export function createAwsClients(opts: {region: string} & AwsConnection): AwsClients {
  const config = sdkClientConfig(opts.region, opts)
  return {
    lambda: new LambdaClient(config),
    // a custom endpoint (LocalStack, a proxy) rarely serves bucket-named hosts: address buckets by path
    s3: new S3Client({...config, ...(opts.endpointUrl ? {forcePathStyle: true} : {})}),
    iam: new IAMClient(config),
  }
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.lambda.destroy()
  clients.s3.destroy()
  clients.iam.destroy()
}

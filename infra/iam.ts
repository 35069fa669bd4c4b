import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { EcrRepositoryRef } from './constructs/triton-image';

/**
 * s3:ListBucket on a bucket for listings under some key patterns only (a `StringLike` condition on
 * s3:prefix). Give it for the patterns a principal lists and for those it reads: S3 answers a read
 * of a missing key with 404 only to a principal that may list that key, and with 403 to others.
 */
export function listUnder(bucket: IBucket, patterns: readonly string[]): PolicyStatement {
  if (patterns.length === 0) throw new Error('listUnder needs at least one key pattern (received [])');
  return new PolicyStatement({
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [...patterns] } },
  });
}

/**
 * Use of a KMS key only through one AWS service (kms:ViaService): Decrypt to read, and by
 * default GenerateDataKey to write, objects or messages that service encrypts with it.
 */
export function keyUseVia(key: IKey, service: 's3' | 'sns', region: string, actions: readonly string[] = ['kms:Decrypt', 'kms:GenerateDataKey']): PolicyStatement {
  return new PolicyStatement({
    actions: [...actions],
    resources: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${region}.amazonaws.com` } },
  });
}

/** Why the Resource::* of {@link sagemakerContainerStatements} cannot be narrowed, for cdk-nag's IAM5 acknowledgement. */
export const SAGEMAKER_CONTAINER_WILDCARD_REASON =
  'Actions without resource-level permissions: ecr:GetAuthorizationToken (the registry login) and ' +
  'cloudwatch:PutMetricData (limited by condition to the /aws/sagemaker/Endpoints namespace)';

/**
 * What a SageMaker endpoint's execution role needs to run a container: pull its image from one
 * ECR repository, write the endpoint's log group, and publish metrics in SageMaker's namespace.
 */
export function sagemakerContainerStatements(repository: EcrRepositoryRef, logGroupArn: string): PolicyStatement[] {
  const { account, region, partition } = repository;
  return [
    new PolicyStatement({
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      resources: [`arn:${partition}:ecr:${region}:${account}:repository/${repository.repository}`],
    }),
    new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    new PolicyStatement({ actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'], resources: [logGroupArn] }),
    new PolicyStatement({ actions: ['cloudwatch:PutMetricData'], resources: ['*'], conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } } }),
  ];
}

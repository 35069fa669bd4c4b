import { Stack } from 'aws-cdk-lib';
import { type IRole, Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { jobStagingKeys } from '../core/batch/layout';
import { DataPrefixes, ModelLayout } from '../core/layout';
import { keyUseVia, listUnder } from './iam';
import { acknowledgeWildcardResources } from './nag';

/** A job's staging keys with every segment (model, input path, ETag, model version) a wildcard. */
const anyJob = jobStagingKeys({ model: '*', relative: '*', format: 'csv', gzip: false, predictions: '*', errors: '*', manifest: '*' }, '*', '*');
const partResult = anyJob.part(0).result;

/**
 * Key patterns of what batch jobs read and write, spelled as core/batch/layout.ts spells the keys,
 * so that each batch function's policy can name exactly the keys its step touches.
 */
export const BatchKeyPatterns = {
  /** Model packages and registries (the model bucket). */
  models: `${ModelLayout.root}*`,
  /** Inputs dropped by the data team. */
  input: `${DataPrefixes.batchInput}*`,
  /** Scored rows, mirroring the input key. */
  output: `${DataPrefixes.batchOutput}*`,
  /** Rejected rows, mirroring the input key. */
  errors: `${DataPrefixes.batchErrors}*`,
  /** One manifest per input. */
  manifests: `${DataPrefixes.batchManifests}*`,
  /** The plan of a job that fans out. */
  plans: anyJob.plan,
  /** The staged outputs and counts of a job's parts. */
  parts: `${partResult.slice(0, partResult.lastIndexOf('/') + 1)}*`,
  /** The generations of a job's lease and their release markers; never deleted by a job (core/batch/lock.ts). */
  leases: `${anyJob.lease}*`,
} as const;

/** What one batch function does in the buckets, as key patterns of the data bucket per action. */
export interface BatchFunctionAccess {
  /** Reads model packages and registries (and lists the model bucket's models/). */
  readonly readsModels: boolean;
  /** Keys read (GetObject; HeadObject and ranged reads included). The function may also list under them, so a missing one is a 404. */
  readonly reads: readonly string[];
  /** Keys written in one request (PutObject). */
  readonly puts?: readonly string[];
  /** Keys written by streaming uploads, which may be multipart (PutObject and AbortMultipartUpload). */
  readonly uploads?: readonly string[];
  /** Keys deleted. */
  readonly deletes?: readonly string[];
}

/** The buckets (and their key) a batch function works in. */
export interface BatchBuckets {
  readonly modelBucket: IBucket;
  readonly dataBucket: IBucket;
  readonly key?: IKey;
}

/**
 * A policy, created in `scope` as `id` and attached to `role` alone, that allows one batch
 * function exactly `access`: every action on its own key patterns, s3:ListBucket only under the
 * patterns read, and the key only through S3. Its wildcard resources are acknowledged for cdk-nag.
 */
export function grantBatchAccess(scope: Construct, id: string, role: IRole, buckets: BatchBuckets, access: BatchFunctionAccess): Policy {
  const data = (patterns: readonly string[]) => patterns.map((p) => buckets.dataBucket.arnForObjects(p));
  const statements: PolicyStatement[] = [];
  if (access.readsModels) {
    statements.push(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [buckets.modelBucket.arnForObjects(BatchKeyPatterns.models)] }),
      listUnder(buckets.modelBucket, [BatchKeyPatterns.models]),
    );
  }
  statements.push(new PolicyStatement({ actions: ['s3:GetObject'], resources: data(access.reads) }), listUnder(buckets.dataBucket, access.reads));
  if (access.puts?.length) statements.push(new PolicyStatement({ actions: ['s3:PutObject'], resources: data(access.puts) }));
  if (access.uploads?.length) statements.push(new PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: data(access.uploads) }));
  if (access.deletes?.length) statements.push(new PolicyStatement({ actions: ['s3:DeleteObject'], resources: data(access.deletes) }));
  // Decrypt to read (and to complete multipart uploads), GenerateDataKey to write; only through S3.
  if (buckets.key) statements.push(keyUseVia(buckets.key, 's3', Stack.of(scope).region));

  const policy = new Policy(scope, id, { statements, roles: [role] });
  const patterns = [...(access.readsModels ? [BatchKeyPatterns.models] : []), ...access.reads, ...(access.puts ?? []), ...(access.uploads ?? []), ...(access.deletes ?? [])];
  acknowledgeWildcardResources(
    policy,
    [...new Set(patterns)].map((pattern) => `/${pattern}`),
    'Object ARNs of the keys this batch step touches: any model package under models/ (which models and versions ' +
      'exist changes without a deployment), inputs under batch/input/ named by the data team, outputs, errors and ' +
      'manifests whose keys mirror the input key, and staged plans, parts and leases under ' +
      'batch/staging/jobs/<model>/<input>/<ETag>/<version>/.',
  );
  return policy;
}

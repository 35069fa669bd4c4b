import type { S3Client } from '@aws-sdk/client-s3';
import type { BatchJobOutcome } from '../../core/batch/job';
import { failTransform, finalizeTransform, prepareTransform, type PreparedTransform, type TransformDependencies } from '../../core/batch/transform';
import { ModelNotFoundError, ModelRepository } from '../../core/model/registry';
import { ManifestCache } from '../shared/manifests';
import { S3BatchStore } from '../shared/s3-batch-store';
import { S3BlobStore } from '../shared/s3-blob-store';
import type { BatchTransformEnv } from './env';

/** What the state machine passes to a step (infra/constructs/batch-transform.ts). */
export type TransformStep =
  /** `key` as S3 spells it in the event (URL-encoded); `execution` makes the transform job's name unique per run. */
  | { readonly action: 'prepare'; readonly key: string; readonly execution: string }
  | { readonly action: 'finalize'; readonly prepared: PreparedTransform }
  /** `version` is absent when prepare itself failed. */
  | { readonly action: 'fail'; readonly key: string; readonly version?: string; readonly error?: { readonly Error?: string; readonly Cause?: string } };

/** What a step answers: the prepared transform (with the S3 URIs CreateTransformJob takes) for the next steps, or the job's outcome. */
export type StepResult = (PreparedTransform & { readonly requestsUri: string; readonly outputUri: string }) | { readonly status: BatchJobOutcome['status']; readonly reason?: string; readonly manifest?: string };

/** The steps' dependencies over S3; shared by the handler and its tests. */
export function createTransformApp(env: BatchTransformEnv, s3: S3Client): TransformDependencies & { readonly bucket: string } {
  const manifests = new ManifestCache(new ModelRepository(new S3BlobStore(s3, env.MODEL_BUCKET)));
  return {
    bucket: env.DATA_BUCKET,
    store: new S3BatchStore(s3, env.DATA_BUCKET),
    rowsPerRequest: env.ROWS_PER_REQUEST,
    manifestOf: (model) => {
      const version = Object.hasOwn(env.MODEL_VERSIONS, model) ? env.MODEL_VERSIONS[model] : undefined;
      if (version === undefined) return Promise.reject(new ModelNotFoundError(model));
      return manifests.get(model, version);
    },
  };
}

/** Runs one step of the state machine. */
export async function runTransformStep(step: TransformStep, deps: TransformDependencies & { readonly bucket: string }): Promise<StepResult> {
  switch (step.action) {
    case 'prepare': {
      const prepared = await prepareTransform(decodeS3EventKey(step.key), deps);
      if (prepared.status !== 'prepared') return summary(prepared);
      // A name per run: a transform job's name can never be used again, and a failed run may be retried.
      return {
        ...prepared,
        jobName: `${prepared.jobName.slice(0, 63 - 9)}-${step.execution.replace(/[^a-zA-Z0-9]/g, '').slice(-8)}`,
        requestsUri: `s3://${deps.bucket}/${prepared.requestsKey}`,
        outputUri: `s3://${deps.bucket}/${prepared.outputPrefix}`,
      };
    }
    case 'finalize':
      return summary(await finalizeTransform(step.prepared, deps));
    case 'fail': {
      const cause = [step.error?.Error, step.error?.Cause].filter(Boolean).join(': ') || 'the state machine failed';
      return summary(await failTransform(decodeS3EventKey(step.key), step.version ?? 'unknown', `Batch Transform failed: ${cause.slice(0, 2000)}`, deps.store));
    }
  }
}

function summary(outcome: BatchJobOutcome): StepResult {
  return { status: outcome.status, ...('reason' in outcome ? { reason: outcome.reason } : {}), ...(outcome.manifest ? { manifest: outcome.manifest.input.location } : {}) };
}

/** An object key as S3 events spell it (URL-encoded, spaces as '+') decoded to the real key. */
function decodeS3EventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

import { S3Client } from '@aws-sdk/client-s3';
import { CaptureBuffer } from '../../core/capture/capture';
import { type EngineOptions, InferenceEngine } from '../../core/model/engine';
import { ModelRepository } from '../../core/model/registry';
import type { ApiDependencies } from '../../core/protocol/router';
import { S3BlobStore } from '../shared/s3-blob-store';
import type { InferenceEnv } from './env';

/** Builds the API's dependencies from the environment; shared by the handler and its tests. */
export function createInferenceApp(env: InferenceEnv, s3: S3Client, hooks: Pick<ApiDependencies, 'onError' | 'onPrediction'> & Pick<EngineOptions, 'onVersionError'> & { onCaptureError?: (error: unknown) => void }): ApiDependencies & { engine: InferenceEngine } {
  const engine = new InferenceEngine(new ModelRepository(new S3BlobStore(s3, env.MODEL_BUCKET)), {
    batching: { maxBatchRows: env.MICRO_BATCH_MAX_ROWS, maxWaitMicros: env.MICRO_BATCH_MAX_WAIT_MICROS },
    onVersionError: hooks.onVersionError,
  });
  const data = new S3BlobStore(s3, env.DATA_BUCKET);
  const capture = new CaptureBuffer((key, body) => data.write(key, body), {
    sampleRate: env.CAPTURE_SAMPLE_RATE,
    maxAgeMs: env.CAPTURE_MAX_AGE_MS,
    onError: hooks.onCaptureError,
  });
  return {
    engine,
    capture,
    limits: { maxBatchRows: env.MAX_BATCH_ROWS, maxBodyBytes: env.MAX_BODY_BYTES },
    requiredModels: env.MODEL_NAMES,
    onError: hooks.onError,
    onPrediction: hooks.onPrediction,
  };
}

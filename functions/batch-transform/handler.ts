import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { logger, tracer } from '../shared/powertools';
import { createTransformApp, runTransformStep, type StepResult, type TransformStep } from './app';
import { batchTransformEnv } from './env';

const env = batchTransformEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const deps = createTransformApp(env, s3);

/** One step of the Batch Transform state machine: prepare, finalize or fail (core/batch/transform.ts). */
export async function handler(step: TransformStep, context: Context): Promise<StepResult> {
  logger.addContext(context);
  const result = await runTransformStep(step, deps);
  logger.info('batch transform step', { action: step.action, ...result });
  return result;
}

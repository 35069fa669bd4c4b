import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { runBatchJob } from '../../core/batch/job';
import { DataPrefixes } from '../../core/layout';
import { logger, metrics, tracer } from '../shared/powertools';
import { createBatchApp, keysOfS3Event, routeBatchInput } from './app';
import { batchEnv } from './env';
import { startExecutionWith } from './start-execution';

const env = batchEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const app = createBatchApp(s3, { models: env.MODEL_BUCKET, data: env.DATA_BUCKET }, env.CHUNK_ROWS, { leaseMs: env.LEASE_SECONDS * 1000 });
const fanOut =
  env.STATE_MACHINE_ARN && env.FAN_OUT_ABOVE_BYTES
    ? { aboveBytes: env.FAN_OUT_ABOVE_BYTES, start: startExecutionWith(tracer.captureAWSv3Client(new SFNClient({})), env.STATE_MACHINE_ARN) }
    : undefined;

/**
 * SQS (fed by an EventBridge rule on "Object Created" under batch/input/; plain S3
 * notifications are read too) → one scoring job per object; an object above the fan-out
 * threshold starts the fan-out state machine instead (once per key, ETag and model version).
 * A message whose job throws is reported as a batch item failure, so SQS retries it (and
 * after the maximum receives, moves it to the dead-letter queue); the job is idempotent.
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  logger.addContext(context);
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const message of event.Records) {
    try {
      for (const { bucket, key } of keysOfS3Event(JSON.parse(message.body))) {
        if (bucket !== env.DATA_BUCKET) continue;
        const model = key.startsWith(DataPrefixes.batchInput) ? key.slice(DataPrefixes.batchInput.length).split('/')[0] : undefined;
        if (model && env.TRANSFORM_MODELS.includes(model)) {
          logger.info('scored by Batch Transform (GPU stack); nothing to do here', { key, model });
          continue;
        }
        const route = await routeBatchInput(key, app, fanOut);
        if (route.route === 'fan-out') {
          logger.info('batch job handed to the fan-out state machine', { key, execution: route.execution, started: route.started, reason: route.reason });
          if (route.started) metrics.addMetric('BatchJobsFannedOut', MetricUnit.Count, 1);
          continue;
        }
        const outcome = await runBatchJob(key, { ...app, owner: context.awsRequestId });
        logger.info('batch job', { key, status: outcome.status, ...(outcome.manifest ? { rowsIn: outcome.manifest.rowsIn, scored: outcome.manifest.scored, rejected: outcome.manifest.rejected } : {}), ...('reason' in outcome ? { reason: outcome.reason } : {}) });
        if (outcome.manifest && outcome.status !== 'skipped') {
          metrics.addMetric('BatchRowsScored', MetricUnit.Count, outcome.manifest.scored);
          metrics.addMetric('BatchRowsRejected', MetricUnit.Count, outcome.manifest.rejected);
          metrics.addMetric(outcome.status === 'succeeded' ? 'BatchJobsSucceeded' : 'BatchJobsFailed', MetricUnit.Count, 1);
        }
      }
    } catch (error) {
      logger.error('batch job failed; the message will be retried', { error: error as Error, messageId: message.messageId });
      batchItemFailures.push({ itemIdentifier: message.messageId });
    }
  }
  metrics.publishStoredMetrics();
  return { batchItemFailures };
}

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { ModelRepository } from '../../core/model/registry';
import { ManifestCache } from '../shared/manifests';
import { logger, metrics, tracer } from '../shared/powertools';
import { S3BlobStore } from '../shared/s3-blob-store';
import { type ConversionOutcome, convertCaptureObject, objectOfEvent } from './app';
import { captureConvertEnv } from './env';

// Cold start: client, configuration and the manifests read are reused by warm invocations.
const env = captureConvertEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const deps = { s3, dataBucket: env.DATA_BUCKET, manifests: new ManifestCache(new ModelRepository(new S3BlobStore(s3, env.MODEL_BUCKET))), versions: env.MODEL_VERSIONS };

/** How many malformed lines are logged with their reasons; the count is always logged and published. */
const LOGGED_MALFORMED = 20;

/**
 * EventBridge "Object Created" under capture-raw/ → the object converted into capture/. A failure
 * (S3, a missing manifest) throws, so Lambda's asynchronous retries and then the rule's
 * dead-letter queue take the event; converting again is harmless.
 */
export async function handler(event: unknown, context: Context): Promise<ConversionOutcome | undefined> {
  logger.addContext(context);
  try {
    const object = objectOfEvent(event);
    if (!object || object.bucket !== env.DATA_BUCKET) {
      logger.warn('not an Object Created event of the data bucket; ignored', { event: event as Record<string, unknown> });
      return undefined;
    }
    const outcome = await convertCaptureObject(deps, object.key);
    if (outcome.status === 'skipped') {
      logger.warn('capture object skipped', { key: outcome.rawKey, reason: outcome.reason });
      return outcome;
    }
    const { malformed } = outcome;
    const rows = outcome.status === 'converted' ? outcome.rows : 0;
    metrics.addMetric('CaptureRowsConverted', MetricUnit.Count, rows);
    metrics.addMetric('CaptureLinesMalformed', MetricUnit.Count, malformed.length);
    const summary = { key: outcome.rawKey, output: outcome.status === 'converted' ? outcome.key : null, lines: outcome.lines, rows, malformed: malformed.length };
    if (malformed.length) logger.warn('capture lines not converted', { ...summary, reasons: malformed.slice(0, LOGGED_MALFORMED) });
    else logger.info('capture converted', summary);
    return outcome;
  } finally {
    metrics.publishStoredMetrics();
  }
}

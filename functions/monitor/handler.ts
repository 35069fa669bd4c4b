import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { type MonitorOutcome, runMonitor } from '../../core/monitor/monitor';
import { ModelRepository } from '../../core/model/registry';
import { logger, metrics, tracer } from '../shared/powertools';
import { S3BlobStore } from '../shared/s3-blob-store';
import { driftEvent, publishMonitorMetrics } from './app';
import { monitorEnv } from './env';

const env = monitorEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const events = tracer.captureAWSv3Client(new EventBridgeClient({}));
const deps = {
  models: new ModelRepository(new S3BlobStore(s3, env.MODEL_BUCKET)),
  data: new S3BlobStore(s3, env.DATA_BUCKET),
  options: { minRows: env.MIN_ROWS, maxWaitHours: env.MAX_WAIT_HOURS, confirmRuns: env.CONFIRM_RUNS, ofLastRuns: env.OF_LAST_RUNS, cooldownHours: env.COOLDOWN_HOURS, labelWindowDays: env.LABEL_WINDOW_DAYS },
};

/** EventBridge schedule → one monitoring run per model; confirmed drift puts a "Drift Confirmed" event. */
export async function handler(_event: ScheduledEvent, context: Context): Promise<MonitorOutcome[]> {
  logger.addContext(context);
  const outcomes: MonitorOutcome[] = [];
  for (const model of env.MODEL_NAMES) {
    try {
      const outcome = await runMonitor(deps, model);
      outcomes.push(outcome);
      publishMonitorMetrics(metrics, outcome);
      if (outcome.status === 'reported') {
        logger.info('drift report', { model, version: outcome.version, alert: outcome.alert, confirmed: outcome.confirmed, drifted: outcome.report.dataset.driftedFeatures, alarms: outcome.alarms, labelledRows: outcome.report.quality?.labeledRows ?? 0, report: outcome.reportKey });
        if (outcome.trigger) await events.send(new PutEventsCommand({ Entries: [driftEvent(outcome, env.EVENT_BUS_NAME)] }));
      } else {
        logger.info('waiting for traffic', { model, rows: outcome.rows, reason: outcome.reason });
      }
    } catch (error) {
      logger.error('monitoring failed', { model, error: error as Error });
      metrics.addMetric('MonitorErrors', MetricUnit.Count, 1);
    }
  }
  metrics.publishStoredMetrics();
  return outcomes;
}

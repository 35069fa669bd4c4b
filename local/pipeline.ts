import { DataPrefixes } from '../core/layout';
import type { BlobStore } from '../core/model/blob-store';
import type { ModelRepository } from '../core/model/registry';
import type { Notification, PipelineContext, PipelineOptions } from '../model-pipeline/pipeline/steps';
import type { RequestStats } from './dashboard/request-stats';

/**
 * The pipeline's context on one machine: the same steps as the Step Functions tasks, with
 * notifications written to the data bucket (`notifications/…json`, shown by the dashboard)
 * and the log instead of SNS. A canary is judged from the local API's per-version request
 * stats (`stats`), where the Lambda reads CloudWatch.
 */
export function localPipelineContext(
  models: ModelRepository,
  data: BlobStore,
  workDir: string,
  log: (line: string) => void,
  options?: PipelineOptions,
  stats?: RequestStats,
): PipelineContext {
  return {
    models,
    data,
    workDir,
    options,
    log,
    ...(stats ? { versionStats: async (model: string, version: string, since: Date, until: Date) => stats.versionStats(model, version, since, until) } : {}),
    notify: async (notification: Notification) => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      await data.write(`${DataPrefixes.notifications}${stamp}-${notification.runId}.json`, JSON.stringify({ ...notification, sentAt: new Date().toISOString() }, null, 2));
      log(`notification: ${notification.subject}`);
    },
  };
}

import { DataPrefixes } from '../core/layout';
import type { BlobStore } from '../core/model/blob-store';
import type { ModelRepository } from '../core/model/registry';
import type { Notification, PipelineContext, PipelineOptions } from '../model-pipeline/pipeline/steps';

/**
 * The pipeline's context on one machine: the same steps as the Step Functions tasks, with
 * notifications written to the data bucket (`notifications/…json`, shown by the dashboard)
 * and the log instead of SNS.
 */
export function localPipelineContext(models: ModelRepository, data: BlobStore, workDir: string, log: (line: string) => void, options?: PipelineOptions): PipelineContext {
  return {
    models,
    data,
    workDir,
    options,
    log,
    notify: async (notification: Notification) => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      await data.write(`${DataPrefixes.notifications}${stamp}-${notification.runId}.json`, JSON.stringify({ ...notification, sentAt: new Date().toISOString() }, null, 2));
      log(`notification: ${notification.subject}`);
    },
  };
}

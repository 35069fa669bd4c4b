import { DataPrefixes } from '../core/layout';
import type { BlobStore } from '../core/model/blob-store';
import type { ModelRepository } from '../core/model/registry';
import { runPipeline } from '../model-pipeline/pipeline/runner';
import { type PipelineState, PipelineStateSchema } from '../model-pipeline/pipeline/state';
import type { Notification, PipelineContext, PipelineOptions } from '../model-pipeline/pipeline/steps';
import type { RequestStats } from './dashboard/request-stats';
import { commandTrainingJob, type TrainingCommand } from './training-command';

/** What the local platform adds to a pipeline context. */
export interface LocalPipelineExtras {
  /** The local API's per-version request stats, which judge a canary (the Lambda reads CloudWatch). */
  readonly stats?: RequestStats;
  /** Ends the waits between canary checks when the platform stops (the run resumes at the next start). */
  readonly signal?: AbortSignal;
  /** Runs the training jobs of training mode sagemaker: a command instead of an image. @default - none: that mode fails at train */
  readonly trainingCommand?: Omit<TrainingCommand, 'workDir' | 'log'>;
}

/**
 * The pipeline's context on one machine: the same steps as the Step Functions tasks, with
 * notifications written to the data bucket (`notifications/…json`, shown by the dashboard)
 * and the log instead of SNS.
 */
export function localPipelineContext(
  models: ModelRepository,
  data: BlobStore,
  workDir: string,
  log: (line: string) => void,
  options?: PipelineOptions,
  extras: LocalPipelineExtras = {},
): PipelineContext {
  const { stats, signal, trainingCommand } = extras;
  return {
    models,
    data,
    workDir,
    options,
    log,
    ...(stats ? { versionStats: async (model: string, version: string, since: Date, until: Date) => stats.versionStats(model, version, since, until) } : {}),
    ...(signal ? { sleep: (ms: number) => abortableSleep(ms, signal) } : {}),
    ...(trainingCommand ? { trainingJob: commandTrainingJob(data, { ...trainingCommand, workDir: `${workDir}/training-jobs`, log }) } : {}),
    notify: async (notification: Notification) => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      await data.write(`${DataPrefixes.notifications}${stamp}-${notification.runId}.json`, JSON.stringify({ ...notification, sentAt: new Date().toISOString() }, null, 2));
      log(`notification: ${notification.subject}`);
    },
  };
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const stopped = () => {
      clearTimeout(timer);
      reject(new Error('the platform is stopping; the run resumes at the next start'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stopped);
      resolve();
    }, ms);
    if (signal.aborted) stopped();
    else signal.addEventListener('abort', stopped, { once: true });
  });
}

/**
 * Resumes the runs whose canary was still undecided when the platform last stopped: each goes
 * on checking its canary from the same run state (the window is the one recorded at deploy).
 */
export async function resumeCanaryRuns(ctx: PipelineContext): Promise<PipelineState[]> {
  const waiting: PipelineState[] = [];
  for (const key of (await ctx.data.list(DataPrefixes.pipeline)).filter((k) => k.endsWith('/state.json'))) {
    const parsed = PipelineStateSchema.safeParse(JSON.parse(new TextDecoder().decode(await ctx.data.read(key))));
    if (parsed.success && parsed.data.outcome === 'canary') waiting.push(parsed.data);
  }
  const finished: PipelineState[] = [];
  for (const run of waiting) {
    ctx.log?.(`pipeline ${run.runId}: resuming the check of canary ${run.canary?.version ?? run.candidateVersion}`);
    finished.push(await runPipeline(ctx, { model: run.model, runId: run.runId, trigger: run.trigger }));
  }
  return finished;
}

import { join } from 'node:path';
import { CaptureBuffer } from '../core/capture/capture';
import { InferenceEngine } from '../core/model/engine';
import { ModelRepository } from '../core/model/registry';
import { createBatchApp } from '../functions/batch/app';
import { S3BlobStore } from '../functions/shared/s3-blob-store';
import { startApiServer } from './api-server';
import { BatchWatcher } from './batch-watcher';
import { holderIsGone, thisProcess } from './process-liveness';
import { DEMO_MODEL, ensureDemoModel } from './bootstrap';
import type { LocalConfig } from './config';
import { dashboardRoutes } from './dashboard/routes';
import { RequestStats } from './dashboard/request-stats';
import { type EmbeddedS3, startEmbeddedS3 } from './embedded-s3';
import { type LocalLlm, startLocalLlm } from './llm-local';
import { MonitorLoop } from './monitor-loop';
import { localPipelineContext, resumeCanaryRuns } from './pipeline';

/** One machine runs the API, the embedded S3 and training side by side: latency ratios below this p99 are noise. */
const LOCAL_LATENCY_FLOOR_MS = 250;

/** Bucket names of the local platform (the deployed ones come from the Storage stack). */
export const LOCAL_BUCKETS = { models: 'mlops-models', data: 'mlops-data' } as const;

export interface RunningPlatform {
  readonly apiUrl: string;
  readonly s3: EmbeddedS3;
  readonly engine: InferenceEngine;
  readonly capture: CaptureBuffer;
  readonly batch: BatchWatcher;
  readonly monitor: MonitorLoop;
  /** The streaming LLM route, backed by a SageMaker runtime stand-in (a token generator, not a language model). */
  readonly llm: LocalLlm;
  stop(): Promise<void>;
}

/**
 * Starts the one-machine platform: the embedded S3 (models and data buckets, kept in
 * MLOPS_HOME), the demo model on first start, the inference API reading models from S3 and
 * capturing to it, the batch watcher, and the drift monitor on a timer that starts retraining
 * on confirmed drift — the same code the Lambdas run.
 */
export async function startPlatform(config: LocalConfig, log: (line: string) => void): Promise<RunningPlatform> {
  const s3 = await startEmbeddedS3({ directory: join(config.home, 's3'), port: config.s3Port, buckets: Object.values(LOCAL_BUCKETS) });
  const modelStore = new S3BlobStore(s3.client, LOCAL_BUCKETS.models);
  const dataStore = new S3BlobStore(s3.client, LOCAL_BUCKETS.data);
  const models = new ModelRepository(modelStore);
  await ensureDemoModel(models, dataStore, join(config.home, 'work'), log);

  const stats = new RequestStats();
  // Registry reads are local and cheap: promotions reach the API within two seconds. Errors are
  // counted per version, so a canary's can be compared with the serving version's.
  const engine = new InferenceEngine(models, { servingTtlMs: 2000, onVersionError: (event) => stats.recordError(event) });
  const capture = new CaptureBuffer((key, body) => dataStore.write(key, body), {
    maxAgeMs: 5_000,
    onError: (error) => log(`capture write failed: ${(error as Error).message}`),
  });
  const endpoints: Record<string, string> = { S3: s3.endpoint };
  const llm = await startLocalLlm();
  endpoints['LLM stand-in'] = llm.standInUrl;
  const api = await startApiServer(
    {
      engine,
      capture,
      requiredModels: [DEMO_MODEL.name],
      onError: (error) => log(`error: ${(error as Error).stack ?? String(error)}`),
      onPrediction: (event) => stats.record(event),
    },
    { port: config.port, extra: dashboardRoutes({ models, data: dataStore, stats, endpoints, llm: llm.stats }), streaming: llm.route, notice: log },
  );
  endpoints.API = api.url;
  // The lease names this process, so that after a crash the next start takes the file over at once.
  const batchApp = createBatchApp(s3.client, LOCAL_BUCKETS, undefined, { holder: thisProcess(), holderIsGone });
  const batch = new BatchWatcher(batchApp, log, config.batchFanOutBytes ? { aboveBytes: config.batchFanOutBytes, partBytes: config.batchPartBytes ?? 64 * 1024 * 1024 } : undefined);
  batch.watch(s3, LOCAL_BUCKETS.data);
  await batch.catchUp(dataStore);
  if (config.batchRescanSeconds) batch.rescanEvery(dataStore, config.batchRescanSeconds * 1000);
  // A retrained candidate serves as a canary first (MLOPS_CANARY_SECONDS = 0 promotes at once).
  const canarySeconds = config.canarySeconds ?? 300;
  const canary = canarySeconds > 0 ? { weight: config.canaryWeight ?? 0.1, windowSeconds: canarySeconds, checkSeconds: Math.max(1, Math.min(30, Math.round(canarySeconds / 10))), thresholds: { latencyFloorMs: LOCAL_LATENCY_FLOOR_MS } } : undefined;
  const stopping = new AbortController();
  // MLOPS_TRAINING_COMMAND stands in for a training image: retraining runs it under the SageMaker container contract.
  const training = config.trainingCommand ? { mode: 'sagemaker' as const } : undefined;
  const trainingCommand = config.trainingCommand ? { command: config.trainingCommand } : undefined;
  const pipeline = localPipelineContext(models, dataStore, join(config.home, 'work', 'pipeline'), log, { canary, training }, { stats, signal: stopping.signal, trainingCommand });
  const monitor = new MonitorLoop(models, dataStore, pipeline, log, { labelWindowDays: config.labelWindowDays });
  // A canary left undecided by the last stop is checked again, in the background, while traffic flows.
  const resumed = resumeCanaryRuns(pipeline).catch((error: Error) => log(`pipeline: ${error.message}`));
  if (config.monitorSeconds) monitor.start(config.monitorSeconds * 1000);
  return {
    apiUrl: api.url,
    s3,
    engine,
    capture,
    batch,
    monitor,
    llm,
    stop: async () => {
      stopping.abort();
      await resumed;
      await monitor.stop();
      // First, so that streams in progress end (with an error event) and the API can close.
      await llm.close();
      await api.close();
      await batch.stop();
      await capture.flush();
      await engine.release();
      await batchApp.engine.release();
      await s3.close();
    },
  };
}

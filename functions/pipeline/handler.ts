import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { S3Client } from '@aws-sdk/client-s3';
import { ModelRepository } from '../../core/model/registry';
import { loadRun, openRun, runStep } from '../../model-pipeline/pipeline/runner';
import type { PipelineState, StepName } from '../../model-pipeline/pipeline/state';
import type { Notification, PipelineContext } from '../../model-pipeline/pipeline/steps';
import { logger, tracer } from '../shared/powertools';
import { S3BlobStore } from '../shared/s3-blob-store';
import { cloudWatchVersionStats } from './cloudwatch-stats';
import { pipelineEnv } from './env';

const env = pipelineEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const sns = tracer.captureAWSv3Client(new SNSClient({}));
const cloudWatch = tracer.captureAWSv3Client(new CloudWatchClient({}));
const canary = env.CANARY_WINDOW_SECONDS
  ? {
      weight: env.CANARY_WEIGHT,
      windowSeconds: env.CANARY_WINDOW_SECONDS,
      thresholds: { minRequests: env.CANARY_MIN_REQUESTS, maxErrorRateIncrease: env.CANARY_MAX_ERROR_RATE_INCREASE, latencyFactor: env.CANARY_LATENCY_FACTOR },
    }
  : undefined;
const ctx: PipelineContext = {
  models: new ModelRepository(new S3BlobStore(s3, env.MODEL_BUCKET)),
  data: new S3BlobStore(s3, env.DATA_BUCKET),
  workDir: '/tmp/pipeline',
  options: { maxDropPoints: env.MAX_DROP_POINTS, epochs: env.EPOCHS, quantize: env.QUANTIZE, autoApprove: env.AUTO_APPROVE, canary },
  versionStats: (model, version, since, until) => cloudWatchVersionStats(cloudWatch, model, version, since, until),
  log: (line) => logger.info(line),
  notify: async (n: Notification) => {
    logger.info('notification', { ...n });
    if (env.NOTIFY_TOPIC_ARN) await sns.send(new PublishCommand({ TopicArn: env.NOTIFY_TOPIC_ARN, Subject: n.subject.slice(0, 99), Message: n.message }));
  },
};

/** What each task passes to the next: the run's identity and where it stands. */
export interface TaskPayload {
  readonly model: string;
  readonly runId: string;
  readonly trigger?: PipelineState['trigger'];
  readonly outcome?: PipelineState['outcome'];
}

/** Raised so Step Functions' Catch routes a failed step to the failure state. */
export class StepFailedError extends Error {
  constructor(step: string, message: string) {
    super(`${step}: ${message}`);
    this.name = 'StepFailedError';
  }
}

/** Starts (or reopens) a run: from the drift event's detail or a manual start. */
export async function start(event: TaskPayload | { detail: TaskPayload }): Promise<TaskPayload> {
  const input = 'detail' in event ? event.detail : event;
  const { state } = await openRun(ctx, { model: input.model, runId: input.runId, trigger: input.trigger ?? { kind: 'drift', reason: (input as { reason?: string }).reason ?? 'drift confirmed' } });
  return { model: state.model, runId: state.runId, outcome: state.outcome };
}

function step(name: StepName) {
  return async (event: TaskPayload): Promise<TaskPayload> => {
    const state = await loadRun(ctx, event.model, event.runId);
    if (!state) throw new StepFailedError(name, `run ${event.runId} of ${event.model} was never started`);
    const next = await runStep(ctx, state, name);
    if (next.outcome === 'failed') throw new StepFailedError(name, next.steps[name]?.error ?? 'failed');
    return { model: next.model, runId: next.runId, outcome: next.outcome };
  };
}

/** One handler per step; the state machine calls them in order (see infra/constructs/retraining-pipeline.ts). */
export const prepare = step('prepare');
export const train = step('train');
export const evaluate = step('evaluate');
export const quantize = step('quantize');
export const gate = step('gate');
export const register = step('register');
export const deploy = step('deploy');
/** Judges the canary once; while it returns outcome "canary", the state machine waits and calls it again. */
export const canaryCheck = step('canaryCheck');
export const notify = step('notify');

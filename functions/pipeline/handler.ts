import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { S3Client } from '@aws-sdk/client-s3';
import { ModelRepository } from '../../core/model/registry';
import { abortRunCanary, loadRun, openRun, runStep } from '../../model-pipeline/pipeline/runner';
import type { StepName } from '../../core/pipeline-steps';
import type { PipelineState } from '../../model-pipeline/pipeline/state';
import type { Notification, PipelineContext } from '../../model-pipeline/pipeline/steps';
import { trainingJobSpec } from '../../core/training-contract';
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
  /** Training mode sagemaker: the job Prepare sets up for the SageMaker task, and what the job left (`trained`). */
  readonly trainingJob?: TrainingJobPayload;
  /** The error a Catch put here (`resultPath: '$.error'`). */
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

/** The SageMaker task's inputs as S3 URIs, and its result once the job has run. */
export interface TrainingJobPayload {
  readonly name: string;
  readonly train: string;
  readonly holdout: string;
  readonly output: string;
  /** The platform's hyperparameters (label_column, feature_names, features, classes); the configured ones are in the task itself. */
  readonly hyperparameters: Readonly<Record<string, string>>;
  /** Set by the SageMaker task (or by Prepare when a resumed run's job has already been imported once). */
  readonly trained?: { readonly job: string; readonly artifact: string };
}

const dataUri = (key: string) => `s3://${env.DATA_BUCKET}/${key}`;

/** The training job of a run whose data is prepared, for the SageMaker task. */
async function trainingJobPayload(state: PipelineState): Promise<TrainingJobPayload> {
  const serving = await ctx.models.load(state.model, state.servingVersion);
  const spec = trainingJobSpec(state.model, state.runId, state.data!, serving.manifest);
  return {
    name: spec.name,
    train: dataUri(spec.channels.train),
    holdout: dataUri(spec.channels.holdout),
    output: dataUri(spec.outputPrefix),
    hyperparameters: spec.hyperparameters,
    // A resumed run whose job already ran goes straight to ImportArtifact: the job name is taken.
    ...(state.training ? { trained: { job: state.training.job, artifact: dataUri(state.training.artifact) } } : {}),
  };
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
const prepareStep = step('prepare');
/** Prepares the data; in training mode sagemaker it also returns the training job's inputs. */
export async function prepare(event: TaskPayload): Promise<TaskPayload> {
  const payload = await prepareStep(event);
  if (env.TRAINING_MODE !== 'sagemaker') return payload;
  const state = (await loadRun(ctx, event.model, event.runId))!;
  return { ...payload, trainingJob: await trainingJobPayload(state) };
}
export const train = step('train');
/** Imports the SageMaker job's model artifact (its S3 URI from the task's result) as the candidate. */
export async function importArtifact(event: TaskPayload): Promise<TaskPayload> {
  const state = await loadRun(ctx, event.model, event.runId);
  if (!state) throw new StepFailedError('importArtifact', `run ${event.runId} of ${event.model} was never started`);
  const trained = event.trainingJob?.trained;
  let training = state.training;
  if (!training) {
    if (!trained) throw new StepFailedError('importArtifact', 'no training job result in the input ($.trainingJob.trained)');
    const prefix = dataUri('');
    if (!trained.artifact.startsWith(prefix)) throw new StepFailedError('importArtifact', `the model artifact ${trained.artifact} is not in the data bucket (${prefix})`);
    training = { job: trained.job, artifact: trained.artifact.slice(prefix.length) };
  }
  const next = await runStep(ctx, { ...state, training }, 'importArtifact');
  if (next.outcome === 'failed') throw new StepFailedError('importArtifact', next.steps.importArtifact?.error ?? 'failed');
  return { model: next.model, runId: next.runId, outcome: next.outcome };
}
export const evaluate = step('evaluate');
export const quantize = step('quantize');
export const gate = step('gate');
export const register = step('register');
export const deploy = step('deploy');
/** Judges the canary once; while it returns outcome "canary", the state machine waits and calls it again. */
export const canaryCheck = step('canaryCheck');
export const notify = step('notify');

/**
 * The Catch of CanaryCheck: a check that failed for good (retries exhausted, timeout, crash) must
 * not leave the canary taking traffic. Ends it (idempotent), marks the run failed and passes the
 * error on to the failure notification.
 */
export async function abortCanary(event: TaskPayload): Promise<TaskPayload> {
  const state = await loadRun(ctx, event.model, event.runId);
  if (!state) throw new StepFailedError('abortCanary', `run ${event.runId} of ${event.model} was never started`);
  const reason = describeCatchError(event.error);
  const { state: next } = await abortRunCanary(ctx, state, reason);
  return { model: next.model, runId: next.runId, outcome: next.outcome, ...(event.error ? { error: event.error } : {}) };
}

/** A Catch's error in words: a Lambda error's Cause is JSON holding errorMessage; States.Timeout and the like have plain text. */
function describeCatchError(error: TaskPayload['error']): string {
  if (!error) return 'the canary check failed';
  let cause = error.Cause ?? '';
  try {
    cause = (JSON.parse(cause) as { errorMessage?: string }).errorMessage ?? cause;
  } catch {
    // Not JSON: the cause as given.
  }
  return [error.Error, cause].filter(Boolean).join(': ') || 'the canary check failed';
}

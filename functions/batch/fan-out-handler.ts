import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { failFanOutJob, mergeBatchJob, planBatchJob, scoreBatchPart } from '../../core/batch/fan-out';
import type { BatchJobOutcome } from '../../core/batch/job';
import { logger, metrics, tracer } from '../shared/powertools';
import { createBatchApp } from './app';
import { batchEnv } from './env';

const env = batchEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const app = createBatchApp(s3, { models: env.MODEL_BUCKET, data: env.DATA_BUCKET }, env.CHUNK_ROWS);

/** The execution's input, as the queue's function starts it (functions/batch/app.ts). */
const ExecutionInputSchema = z.object({ key: z.string().min(1), etag: z.string(), version: z.string().min(1) });
const PartInputSchema = z.object({ planKey: z.string().min(1), index: z.number().int().nonnegative() });
const MergeInputSchema = z.object({ plan: z.object({ planKey: z.string().min(1) }) });
const FailInputSchema = ExecutionInputSchema.extend({ error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional() });

function parse<T>(schema: z.ZodType<T>, event: unknown, step: string): T {
  const result = schema.safeParse(event);
  if (!result.success) throw new Error(`${step}: invalid input: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

/**
 * Plan step: cuts the input into parts and stages the plan. Returns `status: "planned"` with the
 * part indexes for the Distributed Map, or the outcome (skipped: already scored; failed: the
 * model cannot be loaded) that ends the execution.
 */
export async function plan(event: unknown, context: Context) {
  logger.addContext(context);
  const input = parse(ExecutionInputSchema, event, 'plan');
  const outcome = await planBatchJob(input.key, app, { partBytes: env.PART_BYTES, version: input.version });
  if (outcome.status !== 'planned') {
    logger.info('batch fan-out: nothing to score', { key: input.key, status: outcome.status, ...('reason' in outcome ? { reason: outcome.reason } : {}) });
    return { status: outcome.status };
  }
  logger.info('batch fan-out planned', { key: input.key, planKey: outcome.planKey, parts: outcome.parts });
  return { status: outcome.status, planKey: outcome.planKey, indexes: Array.from({ length: outcome.parts }, (_, i) => i) };
}

/** Part step (one Distributed Map item): scores one part into staging; returns its counts. */
export async function scorePart(event: unknown, context: Context) {
  logger.addContext(context);
  const input = parse(PartInputSchema, event, 'scorePart');
  return scoreBatchPart(input.planKey, input.index, app);
}

/** Merge step: concatenates the parts into the outputs, writes the manifest, cleans staging. */
export async function merge(event: unknown, context: Context) {
  logger.addContext(context);
  const input = parse(MergeInputSchema, event, 'merge');
  const outcome = await mergeBatchJob(input.plan.planKey, app);
  const m = outcome.manifest;
  logger.info('batch fan-out merged', { planKey: input.plan.planKey, status: outcome.status, ...(m ? { rowsIn: m.rowsIn, scored: m.scored, rejected: m.rejected, parts: m.parts } : {}) });
  publishOutcome(outcome);
  return { status: outcome.status };
}

/** Failure step (every task's Catch): a failed manifest with Step Functions' error, staging cleaned. */
export async function fail(event: unknown, context: Context) {
  logger.addContext(context);
  const input = parse(FailInputSchema, event, 'fail');
  const reason = `the fan-out execution failed: ${input.error?.Error ?? 'unknown error'}${input.error?.Cause ? `: ${input.error.Cause}` : ''}`;
  const outcome = await failFanOutJob(input.key, input.etag, input.version, reason, app);
  logger.error('batch fan-out failed', { key: input.key, status: outcome.status, reason });
  publishOutcome(outcome);
  return { status: outcome.status };
}

/** The metrics the queue's function publishes for a job it scores, so dashboards count split jobs too. */
function publishOutcome(outcome: BatchJobOutcome): void {
  if (!outcome.manifest || outcome.status === 'skipped') return;
  metrics.addMetric('BatchRowsScored', MetricUnit.Count, outcome.manifest.scored);
  metrics.addMetric('BatchRowsRejected', MetricUnit.Count, outcome.manifest.rejected);
  metrics.addMetric(outcome.status === 'succeeded' ? 'BatchJobsSucceeded' : 'BatchJobsFailed', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}

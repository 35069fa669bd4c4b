import { z } from 'zod';
import { fanOutDecision, type FanOutThreshold, splittable } from './fan-out-decision';
import { formats } from './formats';
import type { BatchFormatPlan } from './formats/format';
import {
  alreadyScored,
  type BatchJobDependencies,
  type BatchJobOutcome,
  type BatchObjectStore,
  type PreparedJob,
  prepareJob,
  readManifest,
  scoreWhole,
  underLease,
  writeFailedManifest,
  writeSucceededManifest,
} from './job';
import { batchKeys, jobStagingKeys } from './layout';
import type { BatchPart } from './plan';
import { InvalidFileError } from './scorer';

/**
 * Scoring a large input in parts: plan (cut the file into byte ranges or row groups), score each
 * part into staging, merge the parts into the same outputs and manifest a single run writes.
 * Step Functions runs these steps in AWS (a Distributed Map over the parts); the local batch
 * watcher runs them in process ({@link runFanOutJob}). Every step is idempotent: a part that ran
 * again overwrites its own staged outputs, and a merge after a finished merge writes nothing.
 */

const PartSchema = z.discriminatedUnion('kind', [
  z.object({ index: z.number().int(), kind: z.literal('bytes'), start: z.number().int(), end: z.number().int(), firstLine: z.number().int() }),
  z.object({ index: z.number().int(), kind: z.literal('rows'), rowStart: z.number().int(), rowEnd: z.number().int() }),
]);

/** The plan of a fan-out job, staged as JSON for the part and merge steps. */
export const BatchPlanSchema = z.object({
  input: z.object({ key: z.string(), etag: z.string(), bytes: z.number().int() }),
  model: z.object({ name: z.string(), version: z.string(), file: z.string() }),
  /** Bytes [0, end) of the file, `lines` lines, prepended to every CSV part after the first. */
  header: z.object({ end: z.number().int(), lines: z.number().int() }).optional(),
  parts: z.array(PartSchema).min(1),
  startedAt: z.iso.datetime(),
});
export type BatchPlan = z.infer<typeof BatchPlanSchema>;

/** The counts a part scored, or why the file cannot be scored (the same reason in every part). */
const PartResultSchema = z.union([
  z.object({ index: z.number().int(), rowsIn: z.number().int(), scored: z.number().int(), rejected: z.number().int() }),
  z.object({ index: z.number().int(), error: z.string() }),
]);
type PartResult = z.infer<typeof PartResultSchema>;

/** Where a plan is staged, and how many parts it has; or why no plan was made. */
export type PlanOutcome = { readonly status: 'planned'; readonly planKey: string; readonly parts: number } | BatchJobOutcome;

export interface FanOutOptions {
  /** Target size of a part in bytes (CSV, JSONL) or compressed row-group bytes (Parquet). */
  readonly partBytes: number;
}

/**
 * Plans a job: reads the input once (CSV, JSONL) or its footer (Parquet), cuts it into parts of
 * about `partBytes` at record boundaries, and stages the plan. Skips an input already scored by
 * the serving version; fails the job (manifest) when the model cannot be loaded or the Parquet
 * file cannot be read. Gzip input is planned as one part: it cannot be read from the middle.
 * `version` pins the model version (the one the execution was started for); by default the serving one.
 */
export async function planBatchJob(inputKey: string, deps: BatchJobDependencies, options: FanOutOptions & { readonly version?: string }): Promise<PlanOutcome> {
  const prepared = await prepareJob(inputKey, deps, options.version);
  if ('status' in prepared) return prepared;
  return planPrepared(prepared, deps, options);
}

async function planPrepared(prepared: PreparedJob, deps: BatchJobDependencies, options: FanOutOptions): Promise<PlanOutcome> {
  const { keys, input, head, model, base, startedAt } = prepared;
  let cut: BatchFormatPlan<BatchPart>;
  try {
    cut = splittable(keys) ? await formats[keys.format].plan(input, options.partBytes) : { parts: [{ index: 0, kind: 'bytes', start: 0, end: head.size, firstLine: 1 }] };
  } catch (error) {
    if (error instanceof InvalidFileError) return writeFailedManifest(deps.store, keys.manifest, base, model, startedAt, error.message);
    throw error;
  }
  const { parts, header } = cut;
  const plan: BatchPlan = { input: { key: input.key, etag: head.etag, bytes: head.size }, model, header, parts, startedAt: startedAt.toISOString() };
  const planKey = jobStagingKeys(keys, head.etag, model.version).plan;
  await deps.store.writeText(planKey, `${JSON.stringify(plan)}\n`);
  return { status: 'planned', planKey, parts: parts.length };
}

/** Reads a staged plan; throws when it is missing (a part or merge step run without its plan step). */
export async function readPlan(store: BatchObjectStore, planKey: string): Promise<BatchPlan> {
  const text = await store.readText(planKey);
  if (text === null) throw new Error(`${planKey}: no plan; run the plan step first`);
  return BatchPlanSchema.parse(JSON.parse(text));
}

/**
 * Scores part `index` of a plan into staging: its predictions (for CSV without the header line,
 * which only the first part keeps), its errors, then its counts. A part whose counts are staged
 * already is not scored again (a redriven execution, a local retry after a crash); one that
 * crashed mid-way overwrites its own staged outputs. A file that cannot be scored at all (no
 * feature columns) is a result, not an error: the merge fails the job with the reason.
 */
export async function scoreBatchPart(planKey: string, index: number, deps: BatchJobDependencies): Promise<PartResult> {
  const plan = await readPlan(deps.store, planKey);
  const part = plan.parts.find((p) => p.index === index);
  if (!part) throw new Error(`${planKey}: no part ${index}; the plan has ${plan.parts.length}`);
  const keys = batchKeys(plan.input.key);
  const staged = jobStagingKeys(keys, plan.input.etag, plan.model.version).part(index);
  const done = await readPartResult(deps.store, staged.result);
  if (done) return done;

  const scorer = await deps.scorerFor(plan.model.name, plan.model.version);
  // Staged counts, written last, are what mark a part complete.
  const predictions = await deps.store.openWriter(staged.predictions);
  const errors = await deps.store.openWriter(staged.errors);
  let result: PartResult;
  try {
    const input = { store: deps.store, key: plan.input.key, size: plan.input.bytes, gzip: keys.gzip, planKey, part, header: plan.header };
    const counts = await formats[keys.format].scorePart(input, scorer, { predictions, errors }, { chunkRows: deps.chunkRows });
    result = { index, ...counts };
  } catch (error) {
    await predictions.abort();
    await errors.abort();
    if (!(error instanceof InvalidFileError)) throw error;
    result = { index, error: error.message };
  }
  if ('rowsIn' in result) {
    await predictions.commit();
    await errors.commit();
  }
  // The counts last: a part with staged counts is complete.
  await deps.store.writeText(staged.result, `${JSON.stringify(result)}\n`);
  return result;
}

/**
 * Merges a plan's parts into the final outputs: predictions and errors concatenated in part order
 * (staged, then moved into place), counts summed, one manifest (with the number of parts) written
 * last, staging cleaned. A merge of a job already merged only cleans up; a part whose file could
 * not be scored fails the job with a manifest saying why and no outputs.
 */
export async function mergeBatchJob(planKey: string, deps: BatchJobDependencies): Promise<BatchJobOutcome> {
  const plan = await readPlan(deps.store, planKey);
  const keys = batchKeys(plan.input.key);
  const staging = jobStagingKeys(keys, plan.input.etag, plan.model.version);
  const base = { input: { location: plan.input.key, etag: plan.input.etag, bytes: plan.input.bytes }, outputs: { predictions: keys.predictions, errors: keys.errors } };
  const startedAt = new Date(plan.startedAt);
  const done = await alreadyScored(deps.store, keys, plan.input.etag, plan.model.version);
  if (done) {
    await cleanUp(deps.store, plan);
    return done;
  }
  const results: PartResult[] = [];
  for (const part of plan.parts) {
    const result = await readPartResult(deps.store, staging.part(part.index).result);
    if (!result) throw new Error(`${planKey}: part ${part.index} has not been scored; merge runs after every part`);
    results.push(result);
  }
  const failure = results.find((r) => 'error' in r);
  let outcome: BatchJobOutcome;
  if (failure && 'error' in failure) {
    outcome = await writeFailedManifest(deps.store, keys.manifest, base, plan.model, startedAt, failure.error);
  } else {
    const counts = { rowsIn: 0, scored: 0, rejected: 0 };
    for (const r of results) {
      if ('error' in r) continue;
      counts.rowsIn += r.rowsIn;
      counts.scored += r.scored;
      counts.rejected += r.rejected;
    }
    for (const output of ['predictions', 'errors'] as const) {
      const writer = await deps.store.openWriter(keys[output]);
      try {
        for (const part of plan.parts) {
          for await (const piece of deps.store.read(staging.part(part.index)[output])) await writer.write(piece);
        }
      } catch (error) {
        await writer.abort();
        throw error;
      }
      await writer.commit();
    }
    outcome = await writeSucceededManifest(deps.store, keys.manifest, base, plan.model, { ...counts, parts: plan.parts.length }, startedAt);
  }
  await cleanUp(deps.store, plan);
  return outcome;
}

/**
 * Records that a fan-out job failed for a reason outside the file (a part kept crashing, a
 * timeout): a failed manifest unless the job already succeeded, and staged parts removed.
 */
export async function failFanOutJob(inputKey: string, etag: string, version: string, reason: string, deps: BatchJobDependencies): Promise<BatchJobOutcome> {
  const keys = batchKeys(inputKey);
  const head = await deps.store.head(inputKey);
  const done = await alreadyScored(deps.store, keys, etag, version);
  if (done) return done;
  const planKey = jobStagingKeys(keys, etag, version).plan;
  const planText = await deps.store.readText(planKey);
  const plan = planText ? BatchPlanSchema.parse(JSON.parse(planText)) : null;
  if (plan) await cleanUp(deps.store, plan);
  const previous = await readManifest(deps.store, keys.manifest);
  const base = { input: { location: inputKey, etag, bytes: head?.size }, outputs: { predictions: keys.predictions, errors: keys.errors } };
  const model = plan?.model ?? { name: keys.model, version, file: previous?.model.file ?? 'unknown' };
  return writeFailedManifest(deps.store, keys.manifest, base, model, plan ? new Date(plan.startedAt) : new Date(), reason);
}

/** Local settings of the fan-out path. */
export interface LocalFanOut extends FanOutOptions, FanOutThreshold {
  /** Parts scored at once. @default 2 */
  readonly concurrency?: number;
}

/**
 * An input scored the way its size calls for: in one run, or planned, scored in parts (up to
 * `concurrency` at once, in this process) and merged, under the same lease as a single run. The
 * local twin of the SQS handler plus the Step Functions state machine.
 */
export async function runBatchInput(inputKey: string, deps: BatchJobDependencies, fanOut?: LocalFanOut): Promise<BatchJobOutcome> {
  const prepared = await prepareJob(inputKey, deps);
  if ('status' in prepared) return prepared;
  if (!fanOut || !fanOutDecision(prepared.keys, prepared.head.size, fanOut).fanOut) return underLease(prepared, deps, () => scoreWhole(prepared, deps));
  return underLease(prepared, deps, async () => {
    const planned = await planPrepared(prepared, deps, fanOut);
    if (planned.status !== 'planned') return planned;
    const indexes = Array.from({ length: planned.parts }, (_, i) => i);
    const workers = Array.from({ length: Math.min(fanOut.concurrency ?? 2, indexes.length) }, async () => {
      for (let index = indexes.shift(); index !== undefined; index = indexes.shift()) await scoreBatchPart(planned.planKey, index, deps);
    });
    await Promise.all(workers);
    return mergeBatchJob(planned.planKey, deps);
  });
}

async function readPartResult(store: BatchObjectStore, key: string): Promise<PartResult | null> {
  const text = await store.readText(key);
  return text === null ? null : PartResultSchema.parse(JSON.parse(text));
}

/** Removes a plan's staged parts and the plan itself (the lease stays: see core/batch/lock.ts). */
async function cleanUp(store: BatchObjectStore, plan: BatchPlan): Promise<void> {
  const staging = jobStagingKeys(batchKeys(plan.input.key), plan.input.etag, plan.model.version);
  for (const part of plan.parts) {
    const keys = staging.part(part.index);
    await Promise.all([store.remove(keys.predictions), store.remove(keys.errors), store.remove(keys.result)]);
  }
  await store.remove(staging.plan);
}

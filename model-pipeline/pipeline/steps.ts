import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { csvLine } from '../../core/data/csv';
import { DataPrefixes } from '../../core/layout';
import { BlobNotFoundError, type BlobStore } from '../../core/model/blob-store';
import type { ClassificationReport, RegressionReport } from '../../core/model/metrics';
import { Predictor } from '../../core/model/predictor';
import type { ModelRepository } from '../../core/model/registry';
import { Random } from '../../core/random';
import { parseCsvTable, type Table } from '../data/table';
import { evaluateTable } from '../evaluate/evaluate';
import { importModel } from '../import/import-model';
import { quantizePackage } from '../quantize/quantize-package';
import { abortCanary, claimVersion, promote, promoteCanary, registerVersion, setStatus, startCanary } from '../registry/registry-ops';
import { trainPackage } from '../train/train-package';
import type { ModelKind } from '../train/trainer';
import { type CanaryThresholds, decideCanary, type VersionWindowStats } from './canary';
import { captureClassCounts } from './capture-counts';
import type { PipelineState } from './state';
import { checkModelSignature, untar } from './training-artifact';
import { TrainingContract, type TrainingJobRunner, trainingJobSpec } from '../../core/training-contract';

/** A message for the on-call channel (SNS in AWS; a file and the log locally). */
export interface Notification {
  readonly subject: string;
  readonly model: string;
  readonly runId: string;
  readonly outcome: PipelineState['outcome'];
  readonly message: string;
}

export interface PipelineOptions {
  /** Largest accuracy drop (points) of the candidate vs the serving model on the same holdout that still passes. @default 0.5 */
  readonly maxDropPoints?: number;
  /** Share of the new labelled rows held out for evaluation. @default 0.3 */
  readonly holdoutShare?: number;
  /** Rows of the serving version's training data mixed in, per new labelled training row. @default 1 */
  readonly baseRowsPerNewRow?: number;
  /** Only label files under labels/<model>/<YYYY-MM-DD>/ no older than this many days (files without a date folder always count). @default 30 */
  readonly labelWindowDays?: number;
  /** @default 40 */
  readonly epochs?: number;
  /** Quantize the candidate (the int8 model serves only if it passes its own gate). @default true */
  readonly quantize?: boolean;
  /** Promote without waiting for a person. @default true */
  readonly autoApprove?: boolean;
  /**
   * Deploy starts a canary instead of promoting at once; canaryCheck promotes or rolls it back
   * from the two versions' request stats (needs `PipelineContext.versionStats`).
   * @default - off: deploy promotes at once
   */
  readonly canary?: CanaryOptions;
  /**
   * How the candidate is trained: by the built-in trainer, or by a user's training container
   * following SageMaker's conventions (see training-contract.ts), run by `PipelineContext.trainingJob`
   * locally and by a SageMaker training job in AWS.
   * @default { mode: 'builtin' }
   */
  readonly training?: TrainingOptions;
}

/** The training mode of a pipeline. */
export type TrainingOptions = { readonly mode: 'builtin' } | { readonly mode: 'sagemaker'; readonly hyperparameters?: Readonly<Record<string, string>> };

/** How a candidate's canary runs and is judged. */
export interface CanaryOptions {
  /** Share of the requests that name no version sent to the candidate. @default 0.1 */
  readonly weight?: number;
  /** Length of the observation window in seconds. @default 600 */
  readonly windowSeconds?: number;
  /** Seconds between checks of the local runner (Step Functions has its own Wait state). @default 30 */
  readonly checkSeconds?: number;
  readonly thresholds?: CanaryThresholds;
}

/** What every step needs; the local runner and the Lambda steps build the same. */
export interface PipelineContext {
  readonly models: ModelRepository;
  /** The data bucket: datasets, labels, pipeline state. */
  readonly data: BlobStore;
  /** Local scratch folder (Lambda: /tmp). */
  readonly workDir: string;
  readonly notify: (notification: Notification) => Promise<void>;
  readonly options?: PipelineOptions;
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
  /** What a model version did between two instants: the canary check compares canary and serving version with it. */
  readonly versionStats?: (model: string, version: string, since: Date, until: Date) => Promise<VersionWindowStats>;
  /** Waits between canary checks of the local runner. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Runs a training job of the contract (training mode sagemaker, locally: a command). */
  readonly trainingJob?: TrainingJobRunner;
}

/** A step's result; `waiting` asks to run the step again later (a canary check without a verdict). */
export type Step = (ctx: PipelineContext, state: PipelineState) => Promise<{ state: PipelineState; summary: string; waiting?: boolean }>;

async function readOptional(store: BlobStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.read(key);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return null;
    throw error;
  }
}

/** Rows of a table reordered into `columns` (features then label); null when a column is missing. */
function project(table: Table, columns: readonly string[]): string[][] | null {
  const indexes = columns.map((c) => table.header.indexOf(c));
  if (indexes.some((i) => i < 0)) return null;
  return table.rows.map((row) => indexes.map((i) => row[i] ?? ''));
}

/** Training data of the serving version plus new labelled rows; a holdout of new rows for the gate. */
export const prepare: Step = async (ctx, state) => {
  const pkg = await ctx.models.load(state.model, state.servingVersion);
  const label = pkg.manifest.labelColumn;
  if (!label) throw new Error(`${state.model} ${state.servingVersion} names no label column; it cannot be retrained`);
  const columns = [...pkg.manifest.input.features.map((f) => f.name), label];
  const windowDays = ctx.options?.labelWindowDays ?? 30;
  const now = (ctx.now ?? (() => new Date()))();
  const labelPrefix = `${DataPrefixes.labels}${state.model}/`;
  const labelFiles = (await ctx.data.list(labelPrefix)).filter((key) => {
    if (!key.endsWith('.csv')) return false;
    const day = /\/(\d{4}-\d{2}-\d{2})\//.exec(key.slice(labelPrefix.length - 1))?.[1];
    return !day || now.getTime() - Date.parse(`${day}T00:00:00Z`) <= windowDays * 86_400_000;
  });
  const fresh: string[][] = [];
  for (const key of labelFiles) {
    const rows = project(parseCsvTable(await ctx.data.read(key), key), columns);
    if (!rows) throw new Error(`${ctx.data.describe(key)} lacks some of the columns ${columns.join(', ')}`);
    fresh.push(...rows);
  }
  if (fresh.length < 50) throw new Error(`only ${fresh.length} labelled rows under ${labelPrefix} (need at least 50 to retrain and evaluate)`);
  const random = new Random(hash(state.runId));
  random.shuffle(fresh);
  const holdoutRows = Math.max(20, Math.round(fresh.length * (ctx.options?.holdoutShare ?? 0.3)));
  const holdout = fresh.slice(0, holdoutRows);
  const freshTrain = fresh.slice(holdoutRows);
  const baseBytes = await readOptional(ctx.data, `${DataPrefixes.datasets}${state.model}/${state.servingVersion}/train.csv`);
  const base = baseBytes ? (project(parseCsvTable(baseBytes, 'base'), columns) ?? []) : [];
  random.shuffle(base);
  const train = [...freshTrain, ...base.slice(0, Math.round(freshTrain.length * (ctx.options?.baseRowsPerNewRow ?? 1)))];
  random.shuffle(train);
  const prefix = `${DataPrefixes.pipeline}${state.model}/${state.runId}/`;
  const toCsv = (rows: string[][]) => [csvLine(columns), ...rows.map((r) => csvLine(r))].join('');
  await ctx.data.write(`${prefix}train.csv`, toCsv(train));
  await ctx.data.write(`${prefix}holdout.csv`, toCsv(holdout));
  return {
    state: { ...state, data: { train: `${prefix}train.csv`, holdout: `${prefix}holdout.csv`, trainRows: train.length, holdoutRows: holdout.length, labelFiles } },
    summary: `${fresh.length} new labelled rows from ${labelFiles.length} file(s); train ${train.length} rows (${base.length ? 'with' : 'without'} the serving version's data), holdout ${holdout.length}`,
  };
};

/** Trains the candidate version with the serving version's settings, or runs the user's training job. */
export const train: Step = async (ctx, state) => {
  const serving = await ctx.models.load(state.model, state.servingVersion);
  const training = ctx.options?.training;
  if (training?.mode === 'sagemaker') {
    if (!ctx.trainingJob) throw new Error('training mode is sagemaker but nothing runs training jobs here (PipelineContext.trainingJob)');
    const spec = trainingJobSpec(state.model, state.runId, state.data!, serving.manifest, training.hyperparameters);
    await ctx.trainingJob(spec);
    return { state: { ...state, training: { job: spec.name, artifact: spec.artifactKey } }, summary: `training job ${spec.name} wrote ${spec.artifactKey}` };
  }
  // Claimed with a create-if-absent write: concurrent runs of one model get distinct numbers.
  const candidate = state.candidateVersion ?? (await claimVersion(ctx.models, state.model, state.runId, state.servingVersion));
  await mkdir(ctx.workDir, { recursive: true });
  const local = join(ctx.workDir, `${state.runId}-train.csv`);
  await writeFile(local, await ctx.data.read(state.data!.train));
  const provenance = serving.manifest.provenance as { trainer?: ModelKind; hidden?: number[] };
  const { pkg } = await trainPackage(ctx.models.packageStore(state.model, candidate), {
    data: local,
    label: serving.manifest.labelColumn!,
    name: state.model,
    version: candidate,
    parentVersion: state.servingVersion,
    model: provenance.trainer ?? 'mlp',
    hidden: provenance.hidden?.length ? provenance.hidden : undefined,
    epochs: ctx.options?.epochs ?? 40,
    seed: hash(state.runId),
    description: `retrained by run ${state.runId} (${state.trigger.kind}: ${state.trigger.reason})`,
  });
  await ctx.data.write(`${DataPrefixes.datasets}${state.model}/${candidate}/train.csv`, await ctx.data.read(state.data!.train));
  await setStatus(ctx.models, state.model, candidate, 'candidate', `trained by run ${state.runId}`, state.runId);
  return { state: { ...state, candidateVersion: candidate }, summary: `trained ${state.model} ${candidate}: validation accuracy ${pkg.manifest.metrics.accuracy?.toFixed(4) ?? 'n/a'}` };
};

/**
 * Turns a training job's model artifact into the candidate package: untars `model.tar.gz`,
 * checks that `model.onnx` takes the serving model's features and answers with its classes, and
 * imports it with the serving model's schema (manifest with lineage, metrics and baseline from
 * the training data). Nothing is claimed or registered before the checks pass, so a bad artifact
 * fails the run without leaving a version behind.
 */
export const importArtifact: Step = async (ctx, state) => {
  const training = state.training;
  if (!training) return { state, summary: 'nothing to import (built-in trainer)' };
  const serving = await ctx.models.load(state.model, state.servingVersion);
  const archive = await readOptional(ctx.data, training.artifact);
  if (!archive) throw new Error(`training job ${training.job} left no model artifact at ${ctx.data.describe(training.artifact)}`);
  let files: Map<string, Uint8Array>;
  try {
    files = await untar(archive);
  } catch (error) {
    throw new Error(`training job ${training.job}: ${ctx.data.describe(training.artifact)} is not a tar archive: ${(error as Error).message}`);
  }
  const onnx = files.get(TrainingContract.model);
  if (!onnx) {
    const held = [...files.keys()].join(', ') || 'nothing';
    throw new Error(`training job ${training.job} wrote no ${TrainingContract.model} to /opt/ml/model (its ${TrainingContract.artifact} holds ${held})`);
  }
  await checkModelSignature(onnx, serving.manifest, training.job);

  const candidate = state.candidateVersion ?? (await claimVersion(ctx.models, state.model, state.runId, state.servingVersion));
  await mkdir(ctx.workDir, { recursive: true });
  const modelFile = join(ctx.workDir, `${state.runId}-${TrainingContract.model}`);
  const dataFile = join(ctx.workDir, `${state.runId}-train.csv`);
  const trainCsv = await ctx.data.read(state.data!.train);
  await writeFile(modelFile, onnx);
  await writeFile(dataFile, trainCsv);
  const manifest = serving.manifest;
  const pkg = await importModel(ctx.models.packageStore(state.model, candidate), {
    model: modelFile,
    data: dataFile,
    name: state.model,
    version: candidate,
    label: manifest.labelColumn,
    schema: manifest.input.features,
    classes: manifest.output.kind === 'value' ? undefined : manifest.output.classes,
    lineage: {
      parentVersion: state.servingVersion,
      description: `retrained by run ${state.runId} (${state.trigger.kind}: ${state.trigger.reason}) in training job ${training.job}`,
      provenance: { trainer: 'training-job', trainingJob: training.job, artifact: training.artifact, runId: state.runId, trigger: state.trigger },
      dataSource: state.data!.train,
    },
  });
  await ctx.data.write(`${DataPrefixes.datasets}${state.model}/${candidate}/train.csv`, trainCsv);
  await setStatus(ctx.models, state.model, candidate, 'candidate', `trained by job ${training.job} of run ${state.runId}`, state.runId);
  const metric = pkg.manifest.metrics.accuracy ?? pkg.manifest.metrics.r2;
  return {
    state: { ...state, candidateVersion: candidate },
    summary: `imported ${state.model} ${candidate} from training job ${training.job}: ${pkg.manifest.metrics.accuracy !== undefined ? 'accuracy' : 'r2'} on its training data ${metric?.toFixed(4) ?? 'n/a'}`,
  };
};

/** Scores candidate and serving model on the same holdout of new labelled rows. */
export const evaluate: Step = async (ctx, state) => {
  const holdout = parseCsvTable(await ctx.data.read(state.data!.holdout), state.data!.holdout);
  const score = async (version: string) => {
    const pkg = await ctx.models.load(state.model, version);
    const predictor = await Predictor.create(pkg);
    try {
      const { quality } = await evaluateTable(predictor, holdout, pkg.manifest.labelColumn!);
      return quality;
    } finally {
      await predictor.release();
    }
  };
  const candidate = await score(state.candidateVersion!);
  const serving = await score(state.servingVersion);
  const metric = 'accuracy' in candidate ? 'accuracy' : 'r2';
  const value = (q: ClassificationReport | RegressionReport) => ('accuracy' in q ? q.accuracy : q.r2);
  return {
    state: { ...state, evaluation: { metric, candidate: value(candidate), serving: value(serving), rows: candidate.rows } },
    summary: `${metric} on ${candidate.rows} holdout rows: candidate ${value(candidate).toFixed(4)}, serving ${value(serving).toFixed(4)}`,
  };
};

/** Quantizes the candidate; its int8 model serves only if it passes its own gate. */
export const quantize: Step = async (ctx, state) => {
  if (ctx.options?.quantize === false) return { state, summary: 'skipped (quantize: false)' };
  const store = ctx.models.packageStore(state.model, state.candidateVersion!);
  const pkg = await ctx.models.load(state.model, state.candidateVersion!);
  const holdout = parseCsvTable(await ctx.data.read(state.data!.holdout), state.data!.holdout);
  await quantizePackage(store, pkg, {
    evaluation: { table: holdout, source: state.data!.holdout, label: pkg.manifest.labelColumn },
    latency: { budgetMs: 300 },
  });
  const summary = (await ctx.models.load(state.model, state.candidateVersion!)).manifest.quantization;
  const servable = summary?.servable ?? false;
  return {
    state: { ...state, quantization: { servable, failures: summary?.failures ?? [] } },
    summary: servable ? 'int8 model passed its gate and will serve' : `int8 model will not serve: ${(summary?.failures ?? []).join('; ') || 'no layer quantized'}`,
  };
};

/** The candidate must not be worse than the serving model on the same data by more than the margin. */
export const gate: Step = async (ctx, state) => {
  const evaluation = state.evaluation!;
  const margin = (ctx.options?.maxDropPoints ?? 0.5) / 100;
  const reasons: string[] = [];
  if (evaluation.candidate < evaluation.serving - margin) {
    reasons.push(`${evaluation.metric} ${evaluation.candidate.toFixed(4)} is more than ${(margin * 100).toFixed(2)} points below the serving model's ${evaluation.serving.toFixed(4)}`);
  }
  const passed = reasons.length === 0;
  return { state: { ...state, gate: { passed, reasons } }, summary: passed ? `passed: ${evaluation.metric} ${evaluation.candidate.toFixed(4)} vs ${evaluation.serving.toFixed(4)}` : `failed: ${reasons.join('; ')}` };
};

/**
 * Records the gate's verdict in the registry: approved, or rejected (never served), with the
 * package digest of the candidate as it was judged. Train and importArtifact list the candidate
 * without one because quantize still adds files to it; from here on nothing may change it.
 */
export const register: Step = async (ctx, state) => {
  const candidate = state.candidateVersion!;
  if (state.gate!.passed) {
    await registerVersion(ctx.models, state.model, candidate, 'approved', `passed the gate in run ${state.runId}`, state.runId);
    return { state, summary: `${candidate} approved` };
  }
  await registerVersion(ctx.models, state.model, candidate, 'rejected', state.gate!.reasons.join('; '), state.runId);
  return { state: { ...state, outcome: 'rejected' }, summary: `${candidate} rejected` };
};

/**
 * Makes an approved candidate serve: at once, or with `canary` options as a canary taking a share
 * of the requests until canaryCheck decides (the previous version stays for rollback either way).
 */
export const deploy: Step = async (ctx, state) => {
  if (state.outcome === 'rejected') return { state, summary: `nothing to deploy; ${state.servingVersion} keeps serving` };
  if (ctx.options?.autoApprove === false) return { state: { ...state, outcome: 'approved' }, summary: `${state.candidateVersion} awaits manual promotion (mlops models promote)` };
  const canary = ctx.options?.canary;
  if (canary) {
    const now = (ctx.now ?? (() => new Date()))();
    const weight = canary.weight ?? 0.1;
    const until = new Date(now.getTime() + (canary.windowSeconds ?? 600) * 1000);
    const registry = await startCanary(ctx.models, state.model, state.candidateVersion!, { weight, until, runId: state.runId, now });
    const started = registry.canary!;
    return {
      state: { ...state, outcome: 'canary', canary: { version: started.version, weight: started.weight, startedAt: started.startedAt, until: started.until ?? until.toISOString(), checks: 0 } },
      summary: `${started.version} takes ${+(started.weight * 100).toFixed(2)}% of requests as a canary until ${started.until}; ${registry.serving} serves the rest`,
    };
  }
  await promote(ctx.models, state.model, state.candidateVersion!, `promoted by run ${state.runId}`);
  return { state: { ...state, outcome: 'promoted' }, summary: `${state.candidateVersion} now serves; ${state.servingVersion} kept for rollback` };
};

/**
 * Judges the running canary from the canary's and the serving version's stats since it started
 * (errors, p99 latency, and the predicted-class mix of their capture): promotes it, rolls it back
 * (the serving version is untouched, the registry records why), or asks to be run again.
 * Idempotent: a canary decided by a person meanwhile is recorded as such.
 */
export const canaryCheck: Step = async (ctx, state) => {
  const canary = state.canary;
  if (state.outcome !== 'canary' || !canary) return { state, summary: 'no canary to check' };
  const registry = await ctx.models.registryOf(state.model);
  if (registry.canary?.version !== canary.version) {
    if (registry.serving === canary.version) return { state: { ...state, outcome: 'promoted' }, summary: `${canary.version} was promoted outside the run during its canary` };
    return { state: { ...state, outcome: 'rolled-back' }, summary: `${canary.version}'s canary was ended outside the run` };
  }
  const now = (ctx.now ?? (() => new Date()))();
  const since = new Date(canary.startedAt);
  const serving = registry.serving ?? state.servingVersion;
  const versionStats = ctx.versionStats;
  let observed;
  try {
    if (!versionStats) throw new Error('no per-version request stats to judge the canary with (PipelineContext.versionStats)');
    observed = await Promise.all([
      versionStats(state.model, canary.version, since, now),
      versionStats(state.model, serving, since, now),
      captureClassCounts(ctx.data, state.model, canary.version, since, now),
      captureClassCounts(ctx.data, state.model, serving, since, now),
    ]);
  } catch (error) {
    // An unjudged canary does not keep its traffic: every request returns to the serving version,
    // and the failed step says so (resuming the run then records the canary as ended).
    await abortCanary(ctx.models, state.model, `the canary check failed: ${(error as Error).message}`, 'retired');
    throw new Error(`${(error as Error).message}; canary ${canary.version} aborted, ${serving} serves every request`);
  }
  const [canaryStats, servingStats, canaryClasses, servingClasses] = observed;
  const verdict = decideCanary(
    { canary: { ...canaryStats, classCounts: canaryClasses }, serving: { ...servingStats, classCounts: servingClasses }, windowEnded: now.getTime() >= Date.parse(canary.until) },
    ctx.options?.canary?.thresholds,
  );
  const checked = { ...canary, checks: canary.checks + 1, verdict };
  const why = verdict.reasons.join('; ');
  if (verdict.action === 'wait') return { state: { ...state, canary: checked }, summary: `waiting: ${why}`, waiting: true };
  if (verdict.action === 'promote') {
    await promoteCanary(ctx.models, state.model, `promoted after its canary in run ${state.runId}: ${why}`);
    return { state: { ...state, canary: checked, outcome: 'promoted' }, summary: `canary healthy, ${canary.version} promoted: ${why}` };
  }
  await abortCanary(ctx.models, state.model, why);
  return { state: { ...state, canary: checked, outcome: 'rolled-back' }, summary: `canary rolled back, ${serving} keeps serving: ${why}` };
};

/** Tells the on-call channel what happened. */
export const notify: Step = async (ctx, state) => {
  const subject =
    state.outcome === 'promoted'
      ? `${state.model}: ${state.candidateVersion} promoted`
      : state.outcome === 'rolled-back'
        ? `${state.model}: canary ${state.candidateVersion} rolled back`
        : `${state.model}: candidate ${state.candidateVersion} ${state.outcome}`;
  const message = [
    `Run ${state.runId} (${state.trigger.kind}: ${state.trigger.reason})`,
    ...Object.entries(state.steps).map(([name, record]) => `${name}: ${record!.summary}`),
  ].join('\n');
  await ctx.notify({ subject, model: state.model, runId: state.runId, outcome: state.outcome, message });
  return { state, summary: `sent "${subject}"` };
};

export const STEPS: Readonly<Record<string, Step>> = { prepare, train, importArtifact, evaluate, quantize, gate, register, deploy, canaryCheck, notify };

/** A stable 32-bit seed from a run id. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

import { boundedEcho } from '../data/echo';
import { formats, InvalidBatchKeyError } from './formats';
import type { BatchInput } from './formats/format';
import { type BatchJobManifest, BatchJobManifestSchema } from './job-manifest';
import { batchKeys, type BatchKeys, jobStagingKeys } from './layout';
import { claimLease, isHeld, type LeaseOptions } from './lock';
import { InvalidFileError, type ScoreCounts, type Scorer, type TextSink } from './scorer';

/** A sink whose object appears under its key only on commit, and never when aborted or cut short. */
export interface StagedWriter extends TextSink {
  /** Text, or bytes copied as they are (a merge concatenating staged parts). */
  write(data: string | Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** What a batch job needs of object storage (S3, or the embedded S3 locally). */
export interface BatchObjectStore {
  /** ETag and size, or null when the object does not exist. */
  head(key: string): Promise<{ readonly etag: string; readonly size: number } | null>;
  read(key: string): AsyncIterable<Uint8Array>;
  /** Bytes [start, end) of an object (for Parquet's footer and row groups). */
  readRange(key: string, start: number, end: number): Promise<Uint8Array>;
  readText(key: string): Promise<string | null>;
  writeText(key: string, text: string): Promise<void>;
  /**
   * A writer of `key` whose object appears only on commit. Over S3 that is a multipart upload
   * completed at commit: a crash leaves an incomplete upload, which no reader sees (and the
   * bucket's lifecycle rule aborts), so there is no staging copy to move, and no 5 GB limit of a copy.
   */
  openWriter(key: string): Promise<StagedWriter>;
  /** Writes `text` under `key` unless the key exists (S3's `If-None-Match: *`); true when this call created it. */
  createIfAbsent(key: string, text: string): Promise<boolean>;
  /** Deletes an object; a missing one is no error. */
  remove(key: string): Promise<void>;
}

export interface BatchJobDependencies {
  readonly store: BatchObjectStore;
  /** The scorer of a model's version (the serving one when none is named); throws when the model is unknown. */
  readonly scorerFor: (model: string, version?: string) => Promise<Scorer & { readonly modelFile: string }>;
  readonly chunkRows?: number;
  readonly onProgress?: (counts: ScoreCounts) => void;
  /**
   * How long a job's lease lasts unless released: longer than one run may take (a Lambda's 15
   * minutes), so a live run never loses it; a crashed run blocks retries this long at most.
   * @default 20 minutes
   */
  readonly leaseMs?: number;
  /** Who holds the lease, for the record. @default - the process id */
  readonly owner?: string;
  /** See {@link LeaseOptions.holder}. */
  readonly holder?: LeaseOptions['holder'];
  /** See {@link LeaseOptions.holderIsGone}. */
  readonly holderIsGone?: LeaseOptions['holderIsGone'];
  readonly now?: () => number;
}

export type BatchJobOutcome =
  | { readonly status: 'succeeded' | 'failed'; readonly manifest: BatchJobManifest }
  | { readonly status: 'skipped'; readonly reason: string; readonly manifest?: BatchJobManifest };

/** An input ready to score: its keys, ETag, the model version that scores it, and the outcome's common fields. */
export interface PreparedJob {
  readonly keys: BatchKeys;
  /** The object as its format reads it. */
  readonly input: BatchInput;
  readonly head: { readonly etag: string; readonly size: number };
  readonly scorer: Scorer & { readonly modelFile: string };
  readonly model: BatchJobManifest['model'];
  readonly base: Pick<BatchJobManifest, 'input' | 'outputs'>;
  readonly startedAt: Date;
}

/**
 * Everything before scoring an input, shared by the single-run and the fan-out paths: a key that
 * is no batch input, a vanished object, or an input already scored by the same model version is
 * skipped; a model that cannot be loaded fails the job with a manifest saying why. Without
 * `version`, the model's serving version scores.
 */
export async function prepareJob(inputKey: string, deps: BatchJobDependencies, version?: string): Promise<PreparedJob | BatchJobOutcome> {
  let keys: BatchKeys;
  try {
    keys = batchKeys(inputKey);
  } catch (error) {
    if (error instanceof InvalidBatchKeyError) return { status: 'skipped', reason: error.message };
    throw error;
  }
  const head = await deps.store.head(inputKey);
  if (!head) return { status: 'skipped', reason: `${inputKey}: the object no longer exists` };
  const startedAt = new Date();
  const base = {
    input: { location: inputKey, etag: head.etag, bytes: head.size },
    outputs: { predictions: keys.predictions, errors: keys.errors },
  };

  let scorer: Scorer & { readonly modelFile: string };
  try {
    scorer = await deps.scorerFor(keys.model, version);
  } catch (error) {
    return writeFailedManifest(deps.store, keys.manifest, base, { name: keys.model, version: 'none', file: 'none' }, startedAt, `model "${keys.model}" cannot be loaded: ${(error as Error).message}`);
  }
  const model = { name: scorer.manifest.name, version: scorer.manifest.version, file: scorer.modelFile };
  const done = await alreadyScored(deps.store, keys, head.etag, model.version);
  if (done) return done;
  return { keys, input: { store: deps.store, key: inputKey, size: head.size, gzip: keys.gzip }, head, scorer, model, base, startedAt };
}

/** The skip outcome when the input's manifest records success for this ETag and model version. */
export async function alreadyScored(store: BatchObjectStore, keys: BatchKeys, etag: string, version: string): Promise<BatchJobOutcome | null> {
  const previous = await readManifest(store, keys.manifest);
  if (previous?.status === 'succeeded' && previous.input.etag === etag && previous.model.version === version) {
    return { status: 'skipped', reason: `${previous.input.location} (ETag ${etag}) was already scored by ${previous.model.name} ${version}`, manifest: previous };
  }
  return null;
}

/** Lease settings from the job's dependencies. */
export function leaseOptions(deps: BatchJobDependencies): LeaseOptions {
  return { owner: deps.owner ?? `pid ${process.pid}`, leaseMs: deps.leaseMs ?? 20 * 60_000, now: deps.now, holder: deps.holder, holderIsGone: deps.holderIsGone };
}

/**
 * Runs `work` under the job's lease (keyed by input ETag and model version), so that two
 * deliveries of the same event at once score once: the second is skipped while the first holds
 * the lease. The manifest is checked again once the lease is held, since a holder that just
 * finished has released it. The lease is released when `work` ends, even by an error, so a retry
 * need not wait for it to expire; only a crashed process leaves it to expire.
 */
export async function underLease(prepared: PreparedJob, deps: BatchJobDependencies, work: () => Promise<BatchJobOutcome>): Promise<BatchJobOutcome> {
  const { keys, head, model } = prepared;
  const lease = await claimLease(deps.store, jobStagingKeys(keys, head.etag, model.version).lease, leaseOptions(deps));
  if (!isHeld(lease)) {
    return { status: 'skipped', reason: `${prepared.base.input.location} (ETag ${head.etag}) is being scored by ${lease.owner} (lease until ${lease.expiresAt.toISOString()})` };
  }
  try {
    return (await alreadyScored(deps.store, keys, head.etag, model.version)) ?? (await work());
  } finally {
    await lease.release();
  }
}

/**
 * Scores one input object end to end. Idempotent: an input whose manifest already records
 * success for the same ETag and model version is not scored again, so a redelivered event
 * writes nothing; two deliveries at once score once (see {@link underLease}). Outputs appear
 * only when complete (see {@link BatchObjectStore.openWriter}), and the manifest is written last,
 * so a crash mid-file leaves nothing that looks finished.
 */
export async function runBatchJob(inputKey: string, deps: BatchJobDependencies): Promise<BatchJobOutcome> {
  const prepared = await prepareJob(inputKey, deps);
  if ('status' in prepared) return prepared;
  return underLease(prepared, deps, () => scoreWhole(prepared, deps));
}

/** Scores a prepared input in one run (the caller holds the job's lease). */
export async function scoreWhole(prepared: PreparedJob, deps: BatchJobDependencies): Promise<BatchJobOutcome> {
  const { keys, input, scorer, model, base, startedAt } = prepared;
  const predictions = await deps.store.openWriter(keys.predictions);
  const errors = await deps.store.openWriter(keys.errors);
  let counts: ScoreCounts;
  // Rows read before a file turns out unreadable half-way (a truncated gzip, a corrupt page), for its failed manifest.
  let progress: ScoreCounts = { rowsIn: 0, scored: 0, rejected: 0 };
  try {
    const sinks = { predictions, errors };
    const options = {
      chunkRows: deps.chunkRows,
      onProgress: (now: ScoreCounts) => {
        progress = now;
        deps.onProgress?.(now);
      },
    };
    counts = await formats[keys.format].score(input, scorer, sinks, options);
  } catch (error) {
    await predictions.abort();
    await errors.abort();
    if (error instanceof InvalidFileError) return writeFailedManifest(deps.store, keys.manifest, base, model, startedAt, error.message, progress.rowsIn);
    throw error;
  }
  await predictions.commit();
  await errors.commit();
  return writeSucceededManifest(deps.store, keys.manifest, base, model, counts, startedAt);
}

/** Writes the manifest of a job that scored every row (the last write of a job). */
export async function writeSucceededManifest(
  store: BatchObjectStore,
  key: string,
  base: Pick<BatchJobManifest, 'input' | 'outputs'>,
  model: BatchJobManifest['model'],
  counts: ScoreCounts & { readonly parts?: number },
  startedAt: Date,
): Promise<BatchJobOutcome> {
  const finishedAt = new Date();
  const manifest = BatchJobManifestSchema.parse({
    ...base,
    status: 'succeeded',
    model,
    ...counts,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
  });
  await store.writeText(key, `${JSON.stringify(manifest, null, 2)}\n`);
  return { status: 'succeeded', manifest };
}

/**
 * Writes the manifest of a job whose file could not be scored at all, with the reason (bounded:
 * it may quote the file) and, when the file failed part-way, how many rows were read before.
 */
export async function writeFailedManifest(
  store: BatchObjectStore,
  key: string,
  base: Pick<BatchJobManifest, 'input' | 'outputs'>,
  model: BatchJobManifest['model'],
  startedAt: Date,
  error: string,
  rowsBeforeError?: number,
): Promise<BatchJobOutcome> {
  const finishedAt = new Date();
  const manifest = BatchJobManifestSchema.parse({
    ...base,
    status: 'failed',
    model,
    rowsIn: 0,
    scored: 0,
    rejected: 0,
    error: boundedEcho(error),
    ...(rowsBeforeError ? { rowsBeforeError } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
  });
  await store.writeText(key, `${JSON.stringify(manifest, null, 2)}\n`);
  return { status: 'failed', manifest };
}

/** The manifest under `key`, or null when there is none (or it is not one). */
export async function readManifest(store: BatchObjectStore, key: string): Promise<BatchJobManifest | null> {
  const text = await store.readText(key);
  if (!text) return null;
  const parsed = BatchJobManifestSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : null;
}

import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataPrefixes } from '../layout';
import { type BatchJobManifest, BatchJobManifestSchema } from './job-manifest';
import { batchKeys, type BatchKeys, InvalidBatchKeyError } from './layout';
import { scoreCsv } from './score-csv';
import { type InputRecord, plainValue, readJsonl, scoreRecords } from './score-records';
import { InvalidFileError, type ScoreCounts, type Scorer, type TextSink } from './scorer';

/** A sink whose text becomes visible under its key only on commit. */
export interface StagedWriter extends TextSink {
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
  /** A writer staging its object under `staging` until commit moves it to `key`. */
  openWriter(key: string, staging: string): Promise<StagedWriter>;
}

export interface BatchJobDependencies {
  readonly store: BatchObjectStore;
  /** The scorer of a model's serving version; throws when the model is unknown. */
  readonly scorerFor: (model: string) => Promise<Scorer & { readonly modelFile: string }>;
  readonly chunkRows?: number;
  readonly onProgress?: (counts: ScoreCounts) => void;
}

export type BatchJobOutcome =
  | { readonly status: 'succeeded' | 'failed'; readonly manifest: BatchJobManifest }
  | { readonly status: 'skipped'; readonly reason: string; readonly manifest?: BatchJobManifest };

/**
 * Scores one input object end to end. Idempotent: an input whose manifest already records
 * success for the same ETag and model version is not scored again, so a redelivered event
 * writes nothing. Outputs are staged and moved into place only when complete, and the
 * manifest is written last, so a crash mid-file leaves nothing that looks finished.
 */
export async function runBatchJob(inputKey: string, deps: BatchJobDependencies): Promise<BatchJobOutcome> {
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
    scorer = await deps.scorerFor(keys.model);
  } catch (error) {
    return fail(deps.store, keys, base, { name: keys.model, version: 'none', file: 'none' }, startedAt, `model "${keys.model}" cannot be loaded: ${(error as Error).message}`);
  }
  const model = { name: scorer.manifest.name, version: scorer.manifest.version, file: scorer.modelFile };

  const previous = await readManifest(deps.store, keys.manifest);
  if (previous?.status === 'succeeded' && previous.input.etag === head.etag && previous.model.version === model.version) {
    return { status: 'skipped', reason: `${inputKey} (ETag ${head.etag}) was already scored by ${model.name} ${model.version}`, manifest: previous };
  }

  const stagingFor = (key: string) => `${DataPrefixes.batchStaging}${head.etag}/${key}`;
  const predictions = await deps.store.openWriter(keys.predictions, stagingFor(keys.predictions));
  const errors = await deps.store.openWriter(keys.errors, stagingFor(keys.errors));
  let counts: ScoreCounts;
  try {
    const sinks = { predictions, errors };
    const options = { chunkRows: deps.chunkRows, onProgress: deps.onProgress };
    if (keys.format === 'csv') counts = await scoreCsv(bytesOf(deps.store, inputKey, keys.gzip), scorer, sinks, options);
    else if (keys.format === 'jsonl') counts = await scoreRecords(readJsonl(bytesOf(deps.store, inputKey, keys.gzip)), scorer, sinks, options);
    else counts = await scoreRecords(readParquet(deps.store, inputKey, head.size), scorer, sinks, options);
  } catch (error) {
    await predictions.abort();
    await errors.abort();
    if (error instanceof InvalidFileError) return fail(deps.store, keys, base, model, startedAt, error.message);
    throw error;
  }
  await predictions.commit();
  await errors.commit();
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
  await deps.store.writeText(keys.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return { status: 'succeeded', manifest };
}

async function fail(
  store: BatchObjectStore,
  keys: BatchKeys,
  base: Pick<BatchJobManifest, 'input' | 'outputs'>,
  model: BatchJobManifest['model'],
  startedAt: Date,
  error: string,
): Promise<BatchJobOutcome> {
  const finishedAt = new Date();
  const manifest = BatchJobManifestSchema.parse({
    ...base,
    status: 'failed',
    model,
    rowsIn: 0,
    scored: 0,
    rejected: 0,
    error,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
  });
  await store.writeText(keys.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return { status: 'failed', manifest };
}

async function readManifest(store: BatchObjectStore, key: string): Promise<BatchJobManifest | null> {
  const text = await store.readText(key);
  if (!text) return null;
  const parsed = BatchJobManifestSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : null;
}

function bytesOf(store: BatchObjectStore, key: string, gzip: boolean): AsyncIterable<Uint8Array> {
  const raw = store.read(key);
  return gzip ? Readable.from(raw).pipe(createGunzip()) : raw;
}

/** Parquet rows, one row group at a time, so memory is bounded by the largest row group. */
async function* readParquet(store: BatchObjectStore, key: string, size: number): AsyncGenerator<InputRecord[]> {
  const { parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
  const file = {
    byteLength: size,
    slice: async (start: number, end?: number) => {
      const bytes = await store.readRange(key, start, end ?? size);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    throw new InvalidFileError(`not a readable Parquet file: ${(error as Error).message}`);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
    yield rows.map((row, i) => {
      const value: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(row)) value[name] = plainValue(v);
      return { line: rowStart + i + 1, value, raw: JSON.stringify(value) };
    });
    rowStart = rowEnd;
  }
}

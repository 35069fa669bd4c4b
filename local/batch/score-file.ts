import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { BatchJobManifest } from '../../core/batch/job-manifest';
import { InvalidFileError, type ScoreCounts, scoreCsv, type Scorer } from '../../core/batch/score-csv';
import { PartialFileSink } from '../file-sink';

export interface ScoreFileOptions {
  /** Rows per model call. @default 1024 */
  readonly chunkRows?: number;
  readonly onProgress?: (counts: ScoreCounts, bytesRead: number, totalBytes: number) => void;
}

/** Paths of the three files a local scoring run writes. */
export function scoreOutputPaths(out: string) {
  return { predictions: out, errors: `${out}.errors.jsonl`, manifest: `${out}.manifest.json` };
}

/**
 * Scores a local CSV file (gzip accepted) into a predictions file, an errors file with every
 * rejected row, and a manifest whose counts reconcile. Outputs appear only when complete.
 */
export async function scoreFile(scorer: Scorer & { readonly modelFile: string }, input: string, out: string, options: ScoreFileOptions = {}): Promise<BatchJobManifest> {
  const startedAt = new Date();
  const paths = scoreOutputPaths(out);
  const totalBytes = (await stat(input)).size;
  const hash = createHash('sha256');
  let bytesRead = 0;
  const raw = createReadStream(input, { highWaterMark: 1 << 20 });
  raw.on('data', (chunk) => {
    hash.update(chunk);
    bytesRead += chunk.length;
  });
  const source = input.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const predictions = new PartialFileSink(paths.predictions);
  const errors = new PartialFileSink(paths.errors);
  let counts: ScoreCounts = { rowsIn: 0, scored: 0, rejected: 0 };
  let failure: string | undefined;
  try {
    counts = await scoreCsv(source, scorer, { predictions, errors }, {
      chunkRows: options.chunkRows,
      onProgress: (c) => options.onProgress?.(c, bytesRead, totalBytes),
    });
    await predictions.commit();
    await errors.commit();
  } catch (error) {
    await predictions.discard();
    await errors.discard();
    if (!(error instanceof InvalidFileError)) throw error;
    failure = error.message;
    counts = { rowsIn: 0, scored: 0, rejected: 0 };
  }
  const finishedAt = new Date();
  const manifest: BatchJobManifest = {
    status: failure ? 'failed' : 'succeeded',
    input: { location: input, sha256: failure ? undefined : hash.digest('hex'), bytes: totalBytes },
    model: { name: scorer.manifest.name, version: scorer.manifest.version, file: scorer.modelFile },
    outputs: { predictions: paths.predictions, errors: paths.errors },
    ...counts,
    ...(failure ? { error: failure } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
  };
  await writeFile(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

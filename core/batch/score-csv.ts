import { encodeRow } from '../data/coerce';
import { csvLine, readCsv, type CsvReaderOptions } from '../data/csv';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';

/** What scores a batch: the Predictor, or anything with the same shape (the serving engine, a test double). */
export interface Scorer {
  readonly manifest: Manifest;
  predict(matrix: Matrix): Promise<BatchScores>;
}

/** Where text goes; implementations honour back-pressure by resolving when the text is accepted. */
export interface TextSink {
  write(text: string): Promise<void>;
}

/** A rejected input row, as one line of the errors file. */
export interface RejectedRow {
  readonly line: number;
  readonly reason: string;
  readonly field?: string;
  readonly raw: string;
}

/** Counts of one scoring run; rowsIn === scored + rejected always holds. */
export interface ScoreCounts {
  readonly rowsIn: number;
  readonly scored: number;
  readonly rejected: number;
}

export interface ScoreOptions extends CsvReaderOptions {
  /** Rows per model call. @default 1024 */
  readonly chunkRows?: number;
  /** Called after each chunk with the counts so far. */
  readonly onProgress?: (counts: ScoreCounts) => void;
}

/** Raised when a whole file cannot be scored (no header, missing feature columns); no row is scored then. */
export class InvalidFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFileError';
  }
}

/** Header of the predictions file for a model and the input's pass-through columns. */
export function predictionColumns(manifest: Manifest, passthrough: readonly string[]): string[] {
  const scores = manifest.task === 'regression' ? [] : classesOf(manifest).map((c) => `prob_${c}`);
  return ['line', ...passthrough, 'prediction', ...scores];
}

/**
 * Scores a CSV stream with a header row: features are found by name in any column order,
 * other columns are passed through as ids. Every data row ends up in exactly one of the two
 * sinks: predictions, or errors with its line number and the reason.
 */
export async function scoreCsv(
  source: AsyncIterable<Uint8Array | string>,
  scorer: Scorer,
  sinks: { readonly predictions: TextSink; readonly errors: TextSink },
  options: ScoreOptions = {},
): Promise<ScoreCounts> {
  const { manifest } = scorer;
  const features = manifest.input.features;
  const classes = classesOf(manifest);
  const chunkRows = options.chunkRows ?? 1024;
  const width = features.length;
  const matrix = new Float32Array(chunkRows * width);
  let header: string[] | undefined;
  let featureColumns: number[] = [];
  let passthroughColumns: number[] = [];
  let pendingRows = 0;
  const pendingLines: number[] = [];
  const pendingIds: string[][] = [];
  let errorText = '';
  const counts = { rowsIn: 0, scored: 0, rejected: 0 };

  const reject = (row: RejectedRow) => {
    counts.rejected++;
    errorText += `${JSON.stringify(row)}\n`;
  };

  const flush = async () => {
    if (errorText) {
      await sinks.errors.write(errorText);
      errorText = '';
    }
    if (pendingRows === 0) return;
    const scores = await scorer.predict({ data: matrix.subarray(0, pendingRows * width), rows: pendingRows, cols: width });
    let out = '';
    for (let r = 0; r < pendingRows; r++) {
      const row = scores.values.subarray(r * scores.width, (r + 1) * scores.width);
      out += csvLine([String(pendingLines[r]), ...pendingIds[r]!, ...formatScores(row, classes)]);
    }
    await sinks.predictions.write(out);
    counts.scored += pendingRows;
    pendingRows = 0;
    pendingLines.length = 0;
    pendingIds.length = 0;
    options.onProgress?.({ ...counts });
  };

  for await (const records of readCsv(source, options)) {
    for (const record of records) {
      if (!header) {
        if (!record.fields) throw new InvalidFileError(`line ${record.line}: the header row cannot be read: ${record.error}`);
        header = record.fields.map((h) => h.trim());
        ({ featureColumns, passthroughColumns } = mapColumns(header, manifest));
        await sinks.predictions.write(csvLine(predictionColumns(manifest, passthroughColumns.map((c) => header![c]!))));
        continue;
      }
      counts.rowsIn++;
      const fields = record.fields;
      if (!fields) {
        reject({ line: record.line, reason: record.error ?? 'malformed row', raw: record.raw });
        continue;
      }
      if (fields.length !== header.length) {
        reject({ line: record.line, reason: `row has ${fields.length} fields; the header has ${header.length}`, raw: record.raw });
        continue;
      }
      const error = encodeRow(features, (_, i) => fields[featureColumns[i]!], matrix, pendingRows * width);
      if (error) {
        reject({ line: record.line, reason: error.reason, field: error.field, raw: record.raw });
        continue;
      }
      pendingLines.push(record.line);
      pendingIds.push(passthroughColumns.map((c) => fields[c]!));
      if (++pendingRows === chunkRows) await flush();
    }
    // Errors are flushed with every input chunk so their memory stays bounded too.
    if (errorText.length > 1 << 20) await flush();
  }
  if (!header) throw new InvalidFileError('the file is empty; expected a header row naming the features');
  await flush();
  return counts;
}

function mapColumns(header: readonly string[], manifest: Manifest) {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new InvalidFileError(`the header names column "${name}" twice`);
    seen.add(name);
  }
  const features = manifest.input.features;
  const missing = features.filter((f) => !header.includes(f.name)).map((f) => f.name);
  if (missing.length) {
    throw new InvalidFileError(`the header lacks feature column(s) ${missing.join(', ')} required by ${manifest.name} ${manifest.version}; it has ${header.join(', ')}`);
  }
  const featureColumns = features.map((f) => header.indexOf(f.name));
  const featureSet = new Set(featureColumns);
  const passthroughColumns = header.map((_, i) => i).filter((i) => !featureSet.has(i));
  return { featureColumns, passthroughColumns };
}

function formatScores(row: Float32Array, classes: readonly string[]): string[] {
  if (classes.length === 0) return [String(row[0])];
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
  return [classes[best]!, ...Array.from(row, (p) => p.toFixed(6))];
}

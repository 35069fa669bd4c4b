import { coerceFeature } from '../data/coerce';
import { readLines } from '../data/line-carry';
import { argmaxAt } from '../model/argmax';
import { classesOf } from '../model/manifest';
import { ChunkPipeline } from './chunk-pipeline';
import { fixed6, type RejectedRow, RejectedRows, type ScoreCounts, type Scorer, type TextSink } from './scorer';

/** One input record of a JSONL or Parquet file: a parsed object, or why it could not be read. */
export interface InputRecord {
  /** 1-based line (JSONL) or row (Parquet) number. */
  readonly line: number;
  readonly value?: Record<string, unknown>;
  readonly error?: string;
  /** The record's text, for the errors file. */
  readonly raw: string;
}

export interface ScoreRecordsOptions {
  /** Rows per model call. @default 1024 */
  readonly chunkRows?: number;
  readonly onProgress?: (counts: ScoreCounts) => void;
}

/**
 * Scores records keyed by feature name (JSONL lines, Parquet rows) into JSONL predictions:
 * `{"line": 7, "ids": {…other fields…}, "prediction": "yes", "probabilities": {"no": 0.1, "yes": 0.9}}`.
 * Every record ends up in exactly one of predictions or errors.
 */
export async function scoreRecords(
  source: AsyncIterable<InputRecord[]>,
  scorer: Scorer,
  sinks: { readonly predictions: TextSink; readonly errors: TextSink },
  options: ScoreRecordsOptions = {},
): Promise<ScoreCounts> {
  const features = scorer.manifest.input.features;
  const featureNames = new Set(features.map((f) => f.name));
  const width = features.length;
  const classes = classesOf(scorer.manifest);
  const classKeys = classes.map((c) => JSON.stringify(c));
  const counts = { rowsIn: 0, scored: 0, rejected: 0 };
  const rejected = new RejectedRows(sinks.errors, counts);
  const reject = (row: RejectedRow) => rejected.add(row);

  const pipeline = new ChunkPipeline(scorer, options.chunkRows ?? 1024, async (chunk, scores) => {
    let out = '';
    for (let r = 0; r < chunk.rows; r++) {
      const offset = r * scores.width;
      let prediction: string;
      if (classes.length === 0) prediction = `"prediction":${JSON.stringify(scores.values[offset])}`;
      else {
        let probabilities = '';
        for (let k = 0; k < scores.width; k++) probabilities += `${k ? ',' : ''}${classKeys[k]}:${fixed6(scores.values[offset + k]!)}`;
        prediction = `"prediction":${classKeys[argmaxAt(scores.values, offset, scores.width)]},"probabilities":{${probabilities}}`;
      }
      out += `{"line":${chunk.lines[r]},"ids":${JSON.stringify(chunk.ids[r]![0])},${prediction}}\n`;
    }
    await sinks.predictions.write(out);
    counts.scored += chunk.rows;
    await rejected.flush();
    options.onProgress?.({ ...counts });
  });

  for await (const records of source) {
    for (const record of records) {
      counts.rowsIn++;
      const value = record.value;
      if (!value) {
        reject({ line: record.line, reason: record.error ?? 'unreadable record', raw: record.raw });
        continue;
      }
      const chunk = pipeline.current;
      const offset = chunk.rows * width;
      let failed = false;
      for (let j = 0; j < width; j++) {
        const feature = features[j]!;
        const coerced = coerceFeature(feature, value[feature.name]);
        if (typeof coerced === 'string') {
          reject({ line: record.line, reason: `feature "${feature.name}" ${coerced}`, field: feature.name, raw: record.raw });
          failed = true;
          break;
        }
        chunk.data[offset + j] = coerced;
      }
      if (failed) continue;
      const ids: Record<string, unknown> = {};
      for (const key of Object.keys(value)) if (!featureNames.has(key)) ids[key] = value[key];
      const handedOver = pipeline.commit(record.line, [ids]);
      if (handedOver) await handedOver;
    }
    await rejected.flushIfLarge();
  }
  await pipeline.finish();
  await rejected.flush();
  return counts;
}

/**
 * Splits a stream of bytes into JSONL records (one JSON object per line; blank lines skipped).
 * A line longer than `maxLineBytes` (its line break included; 1 MiB by default, where a record
 * of 1,000 numeric features is about 20 KB) is a record with an error, its bytes skipped, not kept.
 */
export async function* readJsonl(source: AsyncIterable<Uint8Array | string>, options: { readonly lineOffset?: number; readonly maxLineBytes?: number } = {}): AsyncGenerator<InputRecord[]> {
  // Lines before the source's first line: a part of a split file numbers lines as the file does.
  let line = options.lineOffset ?? 0;
  for await (const lines of readLines(source, options.maxLineBytes)) {
    const records: InputRecord[] = [];
    for (const text of lines) {
      line++;
      if (typeof text !== 'string') records.push({ line, raw: text.raw, error: text.reason });
      else if (text.trim() !== '') records.push(parseJsonl(line, text));
    }
    if (records.length) yield records;
  }
}

function parseJsonl(line: number, text: string): InputRecord {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { line, raw: text, error: 'a JSONL line must be a JSON object keyed by feature name' };
    return { line, raw: text, value: value as Record<string, unknown> };
  } catch (error) {
    return { line, raw: text, error: `not valid JSON: ${(error as Error).message}` };
  }
}

/** Makes a Parquet value JSON- and model-friendly: bigint → number, Date → ISO string. */
export function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

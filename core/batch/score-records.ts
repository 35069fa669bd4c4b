import { coerceFeature } from '../data/coerce';
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
        let best = 0;
        let probabilities = '';
        for (let k = 0; k < scores.width; k++) {
          if (scores.values[offset + k]! > scores.values[offset + best]!) best = k;
          probabilities += `${k ? ',' : ''}${classKeys[k]}:${fixed6(scores.values[offset + k]!)}`;
        }
        prediction = `"prediction":${classKeys[best]},"probabilities":{${probabilities}}`;
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

/** Splits a stream of bytes into JSONL records (one JSON object per line; blank lines skipped). */
export async function* readJsonl(source: AsyncIterable<Uint8Array | string>, options: { readonly lineOffset?: number } = {}): AsyncGenerator<InputRecord[]> {
  const decoder = new TextDecoder();
  let carry = '';
  // Lines before the source's first line: a part of a split file numbers lines as the file does.
  let line = options.lineOffset ?? 0;
  const parse = (text: string, out: InputRecord[]) => {
    line++;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return;
    try {
      const value: unknown = JSON.parse(trimmed);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) out.push({ line, raw: trimmed, error: 'a JSONL line must be a JSON object keyed by feature name' });
      else out.push({ line, raw: trimmed, value: value as Record<string, unknown> });
    } catch (error) {
      out.push({ line, raw: trimmed, error: `not valid JSON: ${(error as Error).message}` });
    }
  };
  for await (const chunk of source) {
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    const records: InputRecord[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      parse(text.slice(start, end), records);
      start = end + 1;
    }
    carry = text.slice(start);
    if (records.length) yield records;
  }
  const records: InputRecord[] = [];
  const tail = carry + decoder.decode();
  if (tail.length) parse(tail, records);
  if (records.length) yield records;
}

/** Makes a Parquet value JSON- and model-friendly: bigint → number, Date → ISO string. */
export function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

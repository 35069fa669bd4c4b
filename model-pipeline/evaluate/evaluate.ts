import { classificationReport, type ClassificationReport, regressionReport, type RegressionReport } from '../../core/model/metrics';
import type { Matrix } from '../../core/model/onnx-session';
import type { BatchScores } from '../../core/model/predictor';
import type { Scorer } from '../../core/batch/score-csv';
import { classesOf } from '../../core/model/manifest';
import { columnIndex, type Table } from '../data/table';
import { encodeTable, type EncodedSet } from '../train/trainer';

export interface LatencyReport {
  /** Median milliseconds of one single-row call. */
  readonly batch1P50Ms: number;
  /** Rows per second when scoring in batches of 1024. */
  readonly rowsPerSecondAt1024: number;
}

export interface Evaluation {
  readonly quality: ClassificationReport | RegressionReport;
  readonly latency?: LatencyReport;
  /** Rows of the file that could not be encoded or had no usable label. */
  readonly skipped: { readonly count: number; readonly examples: readonly string[] };
}

/** Scores an encoded set in chunks and returns all scores. */
export async function scoreAll(scorer: Scorer, set: Pick<EncodedSet, 'x' | 'rows'>, chunk = 4096): Promise<BatchScores> {
  const width = scorer.manifest.input.features.length;
  const parts: BatchScores[] = [];
  for (let start = 0; start < set.rows; start += chunk) {
    const rows = Math.min(chunk, set.rows - start);
    parts.push(await scorer.predict({ data: set.x.subarray(start * width, (start + rows) * width), rows, cols: width }));
  }
  const scoreWidth = parts[0]?.width ?? Math.max(classesOf(scorer.manifest).length, 1);
  const values = new Float32Array(set.rows * scoreWidth);
  let offset = 0;
  for (const part of parts) {
    values.set(part.values, offset);
    offset += part.values.length;
  }
  return { rows: set.rows, width: scoreWidth, values };
}

/** Quality metrics of scores against an encoded set's targets. */
export function qualityOf(scorer: Scorer, scores: BatchScores, y: ArrayLike<number>): ClassificationReport | RegressionReport {
  return scorer.manifest.task === 'regression' ? regressionReport(scores.values, y) : classificationReport(scores.values, scores.width, y);
}

/** Evaluates a model on a labelled table (columns in any order); optionally measures latency. */
export async function evaluateTable(scorer: Scorer, table: Table, label: string, options: { latency?: boolean } = {}): Promise<Evaluation> {
  const { manifest } = scorer;
  const labelColumn = columnIndex(table, label, 'label column');
  const { set, skipped } = encodeTable(table, manifest.input.features, labelColumn, manifest.task, classesOf(manifest));
  if (set.rows === 0) throw new Error(`no usable rows to evaluate; ${skipped.examples.join('; ')}`);
  const scores = await scoreAll(scorer, set);
  const quality = qualityOf(scorer, scores, set.y);
  return { quality, skipped, ...(options.latency ? { latency: await measureLatency(scorer, set) } : {}) };
}

/** Flat numeric metrics for the manifest. */
export function manifestMetrics(quality: ClassificationReport | RegressionReport): Record<string, number> {
  const { confusion: _confusion, ...numbers } = quality as ClassificationReport;
  return Object.fromEntries(Object.entries(numbers).filter(([, v]) => typeof v === 'number' && Number.isFinite(v))) as Record<string, number>;
}

/** Median single-row latency and batch-1024 throughput, measured on the set's rows. */
export async function measureLatency(scorer: Scorer, set: Pick<EncodedSet, 'x' | 'rows'>): Promise<LatencyReport> {
  const width = scorer.manifest.input.features.length;
  const row = (i: number): Matrix => ({ data: set.x.subarray((i % set.rows) * width, ((i % set.rows) + 1) * width), rows: 1, cols: width });
  for (let i = 0; i < 20; i++) await scorer.predict(row(i));
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = process.hrtime.bigint();
    await scorer.predict(row(i));
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const batch = new Float32Array(1024 * width);
  for (let r = 0; r < 1024; r++) batch.set(row(r).data, r * width);
  const rounds = 20;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await scorer.predict({ data: batch, rows: 1024, cols: width });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { batch1P50Ms: times[Math.floor(times.length / 2)]!, rowsPerSecondAt1024: (rounds * 1024) / seconds };
}

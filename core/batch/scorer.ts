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

/** Raised when a whole file cannot be scored (no header, missing feature columns); no row is scored then. */
export class InvalidFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidFileError';
  }
}

/** The output columns for a model: `prediction`, then `prob_<class>` per class (classifiers). */
export function scoreColumns(manifest: Manifest): string[] {
  return ['prediction', ...classesOf(manifest).map((c) => `prob_${c}`)];
}

/** Formats a probability with 6 decimals, several times faster than toFixed(6) for values in [0, 1]. */
export function fixed6(p: number): string {
  if (!(p >= 0 && p <= 1)) return p.toFixed(6);
  const n = Math.round(p * 1e6);
  if (n === 1e6) return '1.000000';
  const digits = String(n);
  return `0.${'000000'.slice(digits.length)}${digits}`;
}

/** The predicted label (classifiers) or value (regression) and the score columns of row `r`, as strings. */
export function formatScoreCells(scores: BatchScores, r: number, classes: readonly string[]): string[] {
  const offset = r * scores.width;
  if (classes.length === 0) return [String(scores.values[offset])];
  let best = 0;
  const cells = new Array<string>(scores.width + 1);
  for (let k = 0; k < scores.width; k++) {
    const p = scores.values[offset + k]!;
    if (p > scores.values[offset + best]!) best = k;
    cells[k + 1] = fixed6(p);
  }
  cells[0] = classes[best]!;
  return cells;
}

import { csvField } from '../data/csv';
import type { ByteWriter } from '../data/byte-writer';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';

/** What scores a batch: the Predictor, or anything with the same shape (the serving engine, a test double). */
export interface Scorer {
  readonly manifest: Manifest;
  predict(matrix: Matrix): Promise<BatchScores>;
}

/**
 * Where text goes (as a string, or as UTF-8 bytes the sink may keep); implementations honour
 * back-pressure by resolving when the text is accepted.
 */
export interface TextSink {
  write(text: string | Uint8Array): Promise<void>;
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

/**
 * Writes the score cells of rows as CSV bytes: the predicted label (classifiers) or value
 * (regression), then the probabilities with 6 decimals, each preceded by a comma.
 */
export class ScoreCellWriter {
  /** Each class label as a CSV field, encoded once. */
  private readonly labels: Uint8Array[];

  constructor(classes: readonly string[]) {
    const encoder = new TextEncoder();
    this.labels = classes.map((c) => encoder.encode(`,${csvField(c)}`));
  }

  /** Appends `,label,p1,p2…` (or `,value`) of row `r`; labels and formats exactly as `fixed6` and `String()` would. */
  write(out: ByteWriter, scores: BatchScores, r: number): void {
    const { values, width } = scores;
    const offset = r * width;
    if (this.labels.length === 0) {
      out.reserve(1);
      out.byte(44);
      return out.text(String(values[offset]));
    }
    let best = 0;
    for (let k = 1; k < width; k++) if (values[offset + k]! > values[offset + best]!) best = k;
    out.append(this.labels[best]!);
    for (let k = 0; k < width; k++) {
      out.reserve(1);
      out.byte(44);
      out.fixed6(values[offset + k]!);
    }
  }
}

import { csvField } from '../data/csv';
import type { ByteWriter } from '../data/byte-writer';
import { boundedEcho } from '../data/echo';
import { argmaxAt } from '../model/argmax';
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
  /** The row's text; the errors file shows its first MAX_ECHO_CHARS characters. */
  readonly raw: string;
}

/** Counts of one scoring run; rowsIn === scored + rejected always holds. */
export interface ScoreCounts {
  readonly rowsIn: number;
  readonly scored: number;
  readonly rejected: number;
}

/** Buffered rejected rows are written out once they pass this size, even between chunks. */
const REJECTED_FLUSH_CHARS = 1 << 20;

/**
 * Rejected rows on their way to the errors sink, one JSON line each, counted as they come. They
 * are written with each chunk of predictions, and whenever they pile up past 1 MB, so memory
 * stays bounded by that even for a file whose every row is rejected.
 */
export class RejectedRows {
  private text = '';

  constructor(
    private readonly sink: TextSink,
    private readonly counts: { rejected: number },
  ) {}

  /** Buffers `row` with its raw text cut to MAX_ECHO_CHARS: its line number finds the rest in the input. */
  add(row: RejectedRow): void {
    this.counts.rejected++;
    this.text += `${JSON.stringify({ ...row, raw: boundedEcho(row.raw) })}\n`;
  }

  /** Writes what is buffered. */
  async flush(): Promise<void> {
    if (!this.text) return;
    const text = this.text;
    this.text = '';
    await this.sink.write(text);
  }

  /** Writes what is buffered once it passes 1 MB. */
  async flushIfLarge(): Promise<void> {
    if (this.text.length > REJECTED_FLUSH_CHARS) await this.flush();
  }
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
    out.append(this.labels[argmaxAt(values, offset, width)]!);
    for (let k = 0; k < width; k++) {
      out.reserve(1);
      out.byte(44);
      out.fixed6(values[offset + k]!);
    }
  }
}

import { binIndex, type Baseline, type CategoricalProfile, type ConfidenceCalibration, type NumericProfile } from './baseline';
import { Random } from '../random';
import { ReconstructionErrors } from './multivariate';
import { argmaxAt } from '../model/argmax';

/**
 * The current window: a streaming, bounded-memory summary of the rows the monitor compares with
 * the baseline. Rows come in the encoding BaselineBuilder.addRows takes (row-major, manifest
 * feature order; numbers, categorical level indices, NaN for missing), with optional scores
 * ({values, width}, as the model outputs them) and optional ground-truth labels.
 *
 * What is kept, per column, whatever the number of rows:
 *  - numeric: count, missing, mean/variance (sums shifted by the baseline mean), min/max, exact
 *    counts in the baseline's quantile bins (for PSI and the plotted histogram), and a uniform
 *    random sample of `sampleSize` values (Li's reservoir Algorithm L) for the Kolmogorov–Smirnov
 *    test and the Wasserstein distance. With the default 5,000 that is 40 kB a column: 1,000,000
 *    rows × 30 features stay at ~1.2 MB. Up to 5,000 rows the sample is every value, so the KS test
 *    is exact on the full window; beyond that KS compares a 5,000-value sample with the baseline's
 *    5,000-value sample, which keeps its size and validity (a uniform subsample of an i.i.d. window is
 *    i.i.d.) and loses only power, which the effect-size gate makes moot at that scale anyway;
 *  - numeric columns with exactly two values in the baseline (0/1 flags): counts of each value;
 *  - categorical: a count per level plus one for unseen codes, and missing;
 *  - predictions: the score column like a numeric one, counts of the top class, and the sums of the
 *    (calibrated) top-class probability for confidence-based performance estimation;
 *  - labels: a confusion matrix (classification) or error sums (regression).
 * Non-finite numbers (±Infinity) count as missing.
 */

export interface ScoreRows {
  readonly values: ArrayLike<number>;
  /** Scores per row: classes (probabilities) or 1 (regression value). */
  readonly width: number;
}

export interface WindowOptions {
  /** Values sampled per numeric column (and for the score) for the two-sample tests. @default 5000 */
  readonly sampleSize?: number;
  /** Seed of the sampling; equal seeds and rows give equal windows. @default 1 */
  readonly seed?: number;
  /** Rows per chunk of the label-free accuracy estimate (CBPE per chunk, as NannyML chunks its data). @default 1000 */
  readonly estimateChunkRows?: number;
}

/** Σ c and Σ c² of the (calibrated) confidence over one chunk of consecutive scored rows. */
export interface ConfidenceChunk {
  rows: number;
  sum: number;
  squares: number;
}

/** The reservoirs' PRNG: the shared mulberry32 (core/random.ts), drawing in the open interval (0, 1). */
export class SeededRandom extends Random {
  /** Uniform in (0, 1): the shared generator's draw moved half a step off zero (exact in binary). */
  override next(): number {
    return super.next() + 0.5 / 4294967296;
  }
}

/**
 * Uniform fixed-size sample of a stream, Algorithm L: K.-H. Li (1994), "Reservoir-sampling algorithms
 * of time complexity O(n(1 + log(N/n)))", ACM TOMS 20(4). Draws random numbers only on replacements.
 */
export class Reservoir {
  readonly values: Float64Array;
  private filled = 0;
  private seen = 0;
  private w = 0;
  private nextIndex = 0;

  constructor(
    readonly capacity: number,
    private readonly random: SeededRandom,
  ) {
    this.values = new Float64Array(capacity);
  }

  add(value: number): void {
    const index = this.seen++;
    const k = this.capacity;
    if (this.filled < k) {
      this.values[this.filled++] = value;
      if (this.filled === k) {
        this.w = Math.exp(Math.log(this.random.next()) / k);
        this.nextIndex = index + 1 + this.skip();
      }
      return;
    }
    if (index !== this.nextIndex) return;
    this.values[Math.floor(this.random.next() * k)] = value;
    this.w *= Math.exp(Math.log(this.random.next()) / k);
    this.nextIndex = index + 1 + this.skip();
  }

  /** The sampled values (all of them while fewer than `capacity` were added). */
  sample(): Float64Array {
    return this.values.subarray(0, this.filled);
  }

  private skip(): number {
    return Math.floor(Math.log(this.random.next()) / Math.log1p(-this.w));
  }
}

/** Streaming summary of one numeric column against its baseline profile. */
export class NumericWindowColumn {
  readonly kind = 'numeric' as const;
  count = 0;
  missing = 0;
  min = Infinity;
  max = -Infinity;
  readonly binCounts: Float64Array;
  readonly reservoir: Reservoir;
  /** The two baseline values of a 0/1-like column, with counts of each and of anything else. */
  readonly binary: { readonly low: number; readonly high: number; lowCount: number; highCount: number; otherCount: number } | undefined;
  private sum = 0;
  private sumSquares = 0;
  private readonly shift: number;

  constructor(
    readonly profile: NumericProfile,
    sampleSize: number,
    random: SeededRandom,
  ) {
    this.binCounts = new Float64Array(profile.binEdges.length + 1);
    this.reservoir = new Reservoir(sampleSize, random);
    this.shift = profile.mean;
    const distinct = twoDistinct(profile.sample);
    this.binary = distinct ? { low: distinct[0], high: distinct[1], lowCount: 0, highCount: 0, otherCount: 0 } : undefined;
  }

  /** Adds column `column` of `rows` row-major rows of width `width`. */
  addColumn(x: ArrayLike<number>, rows: number, width: number, column: number): void {
    const edges = this.profile.binEdges;
    const bins = this.binCounts;
    const reservoir = this.reservoir;
    const shift = this.shift;
    let { count, missing, sum, sumSquares, min, max } = this;
    for (let r = 0, i = column; r < rows; r++, i += width) {
      const v = x[i]!;
      if (!Number.isFinite(v)) {
        missing++;
        continue;
      }
      count++;
      const d = v - shift;
      sum += d;
      sumSquares += d * d;
      if (v < min) min = v;
      if (v > max) max = v;
      bins[binIndex(edges, v)]!++;
      reservoir.add(v);
      if (this.binary) {
        if (v === this.binary.high) this.binary.highCount++;
        else if (v === this.binary.low) this.binary.lowCount++;
        else this.binary.otherCount++;
      }
    }
    Object.assign(this, { count, missing, sum, sumSquares, min, max });
  }

  get mean(): number {
    return this.count ? this.shift + this.sum / this.count : Number.NaN;
  }

  get std(): number {
    if (this.count < 2) return Number.NaN;
    const meanShifted = this.sum / this.count;
    return Math.sqrt(Math.max(0, (this.sumSquares - this.count * meanShifted * meanShifted) / (this.count - 1)));
  }
}

/** Streaming summary of one categorical column: counts per level code, unseen codes, missing. */
export class CategoricalWindowColumn {
  readonly kind = 'categorical' as const;
  /** Counts of level codes 0…L−1, then the count of unseen codes. */
  readonly counts: Float64Array;
  missing = 0;

  constructor(readonly profile: CategoricalProfile) {
    this.counts = new Float64Array(profile.levels.length + 1);
  }

  addColumn(x: ArrayLike<number>, rows: number, width: number, column: number): void {
    const counts = this.counts;
    const levels = counts.length - 1;
    for (let r = 0, i = column; r < rows; r++, i += width) {
      const code = x[i]!;
      if (Number.isNaN(code)) this.missing++;
      else counts[Number.isInteger(code) && code >= 0 && code < levels ? code : levels]!++;
    }
  }

  /** Non-missing values, unseen codes included. */
  get count(): number {
    let total = 0;
    for (const c of this.counts) total += c;
    return total;
  }
}

export type WindowColumn = NumericWindowColumn | CategoricalWindowColumn;

/** Labels seen with classification scores: confusion[actual][predicted]. */
export interface ClassificationLabels {
  readonly kind: 'classification';
  readonly confusion: number[][];
  rows: number;
}

/** Labels seen with regression predictions: sums of errors. */
export interface RegressionLabels {
  readonly kind: 'regression';
  rows: number;
  sumSquaredError: number;
  sumAbsoluteError: number;
}

/**
 * The current window of a model: feed it encoded rows (and scores, and labels when known) as they
 * are read; hand it to detectDrift. Memory is bounded by the sample size, never by the row count.
 * A missing value (NaN: the encoding of a null or empty field) counts in its own column's `missing`
 * and nowhere else; the row stays in every other column. Missing values are data, tested per
 * feature by detectDrift, never a reason to drop a row.
 */
export class DriftWindow {
  readonly columns: WindowColumn[];
  /** The prediction score (binary: positive-class probability; multiclass: top-class probability; regression: value). */
  readonly score: NumericWindowColumn | undefined;
  /** Rows whose top class is each class (classification). */
  readonly classCounts: Float64Array;
  /** Rows with scores. */
  scoredRows = 0;
  /** Σ c and Σ c² of the (calibrated) top-class probability c, for confidence-based performance estimation. */
  confidenceSum = 0;
  confidenceSquares = 0;
  /** The same sums per chunk of `estimateChunkRows` scored rows, in arrival order; the last may be partial. */
  readonly confidenceChunks: ConfidenceChunk[] = [];
  readonly estimateChunkRows: number;
  /** Reconstruction errors of the baseline's PCA (the multivariate test), when the baseline has one. */
  readonly reconstruction: ReconstructionErrors | undefined;
  readonly labels: ClassificationLabels | RegressionLabels | undefined;
  private rowCount = 0;
  private readonly calibration: ConfidenceCalibration | undefined;

  constructor(
    readonly baseline: Baseline,
    options: WindowOptions = {},
  ) {
    const sampleSize = options.sampleSize ?? 5000;
    if (!Number.isInteger(sampleSize) || sampleSize < 1) throw new RangeError(`sampleSize must be a positive integer, got ${sampleSize}`);
    const seed = options.seed ?? 1;
    this.estimateChunkRows = options.estimateChunkRows ?? 1000;
    this.reconstruction = baseline.multivariate ? new ReconstructionErrors(baseline.multivariate, baseline.features.map((f) => f.name)) : undefined;
    this.columns = baseline.features.map((profile, i) =>
      profile.kind === 'numeric' ? new NumericWindowColumn(profile, sampleSize, new SeededRandom(seed * 7919 + i)) : new CategoricalWindowColumn(profile),
    );
    const prediction = baseline.prediction;
    const scoreProfile = prediction?.kind === 'classification' ? prediction.score : prediction?.value;
    this.score = scoreProfile ? new NumericWindowColumn(scoreProfile, sampleSize, new SeededRandom(seed * 7919 + 104_729)) : undefined;
    const classes = prediction?.kind === 'classification' ? prediction.classes.length : 0;
    this.classCounts = new Float64Array(classes);
    this.calibration = prediction?.kind === 'classification' ? prediction.calibration : undefined;
    if (prediction?.kind === 'classification') {
      this.labels = { kind: 'classification', confusion: Array.from({ length: classes }, () => new Array<number>(classes).fill(0)), rows: 0 };
    } else if (prediction?.kind === 'regression') {
      this.labels = { kind: 'regression', rows: 0, sumSquaredError: 0, sumAbsoluteError: 0 };
    }
  }

  /** Rows added so far. */
  get rows(): number {
    return this.rowCount;
  }

  /**
   * Adds `rows` encoded rows (row-major, one column per baseline feature), their scores
   * (probabilities per class, or the regression value) and, when known, their labels
   * (class index, or the true value for regression; NaN where unknown).
   */
  addRows(x: ArrayLike<number>, rows: number, scores?: ScoreRows, labels?: ArrayLike<number>): void {
    const width = this.columns.length;
    if (x.length < rows * width) throw new RangeError(`addRows: ${rows} rows of ${width} features need ${rows * width} values, got ${x.length}`);
    this.columns.forEach((column, c) => column.addColumn(x, rows, width, c));
    this.reconstruction?.add(x, rows, width);
    if (scores) this.addScores(scores, rows, labels);
    this.rowCount += rows;
  }

  private addScores(scores: ScoreRows, rows: number, labels?: ArrayLike<number>): void {
    const { values, width } = scores;
    if (values.length < rows * width) throw new RangeError(`addRows: ${rows} rows of ${width} scores need ${rows * width} values, got ${values.length}`);
    const prediction = this.baseline.prediction;
    if (!prediction || !this.score) return;
    if (prediction.kind === 'regression') {
      this.score.addColumn(values, rows, width, 0);
      for (let r = 0; r < rows; r++) {
        const value = values[r * width]!;
        const truth = labels?.[r];
        if (truth !== undefined && Number.isFinite(truth) && Number.isFinite(value) && this.labels?.kind === 'regression') {
          const error = value - truth;
          this.labels.rows++;
          this.labels.sumSquaredError += error * error;
          this.labels.sumAbsoluteError += Math.abs(error);
        }
      }
      this.scoredRows += rows;
      return;
    }
    const scoreValues = new Float64Array(rows);
    const classes = this.classCounts.length;
    for (let r = 0; r < rows; r++) {
      const offset = r * width;
      const best = argmaxAt(values, offset, width);
      const top = values[offset + best]!;
      scoreValues[r] = width === 2 ? values[offset + 1]! : top;
      if (!Number.isFinite(top)) continue;
      if (best < classes) this.classCounts[best]!++;
      const confidence = this.calibration ? applyCalibration(this.calibration, top) : top;
      this.confidenceSum += confidence;
      this.confidenceSquares += confidence * confidence;
      let chunk = this.confidenceChunks.at(-1);
      if (!chunk || chunk.rows >= this.estimateChunkRows) this.confidenceChunks.push((chunk = { rows: 0, sum: 0, squares: 0 }));
      chunk.rows++;
      chunk.sum += confidence;
      chunk.squares += confidence * confidence;
      this.scoredRows++;
      const truth = labels?.[r];
      if (truth !== undefined && Number.isInteger(truth) && truth >= 0 && truth < classes && best < classes && this.labels?.kind === 'classification') {
        this.labels.confusion[truth]![best]!++;
        this.labels.rows++;
      }
    }
    this.score.addColumn(scoreValues, rows, 1, 0);
  }
}

/** The calibrated confidence: piecewise-linear interpolation of the isotonic map, flat outside its range. */
export function applyCalibration(calibration: Pick<ConfidenceCalibration, 'x' | 'y'>, confidence: number): number {
  const { x, y } = calibration;
  if (x.length === 0) return confidence;
  if (confidence <= x[0]!) return y[0]!;
  if (confidence >= x[x.length - 1]!) return y[y.length - 1]!;
  let lo = 0;
  let hi = x.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (x[mid]! <= confidence) lo = mid;
    else hi = mid;
  }
  const span = x[hi]! - x[lo]!;
  return span > 0 ? y[lo]! + ((y[hi]! - y[lo]!) * (confidence - x[lo]!)) / span : y[hi]!;
}

/** The two values of a sample that has exactly two distinct values, ascending; undefined otherwise. */
function twoDistinct(sample: readonly number[]): [number, number] | undefined {
  let a: number | undefined;
  let b: number | undefined;
  for (const v of sample) {
    if (v === a || v === b) continue;
    if (a === undefined) a = v;
    else if (b === undefined) b = v;
    else return undefined;
  }
  if (a === undefined || b === undefined) return undefined;
  return a < b ? [a, b] : [b, a];
}

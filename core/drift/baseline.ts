import { z } from 'zod';
import { Random } from '../random';
import type { Feature, Manifest } from '../model/manifest';
import { PcaAccumulator } from './multivariate';
import { argmaxAt } from '../model/argmax';

/**
 * The baseline profile stored in a model package as baseline.json: what the training data
 * and the model's predictions on it looked like, so the monitor can tell drift from noise.
 */

const NumericProfileSchema = z.object({
  name: z.string(),
  kind: z.literal('numeric'),
  count: z.number().int(),
  /** Missing values (NaN, ±Infinity); count + missing is the profiled rows (absent in old baselines: none counted). */
  missing: z.number().int().default(0),
  mean: z.number(),
  std: z.number(),
  min: z.number(),
  max: z.number(),
  /** Interior quantile edges; value v falls in bin `number of edges ≤ v`. */
  binEdges: z.array(z.number()),
  binShares: z.array(z.number()),
  /** Uniform random sample of the values (reservoir), for exact two-sample tests. */
  sample: z.array(z.number()),
});

const CategoricalProfileSchema = z.object({
  name: z.string(),
  kind: z.literal('categorical'),
  count: z.number().int(),
  /** Missing values; count + missing is the profiled rows (absent in old baselines: none counted). */
  missing: z.number().int().default(0),
  levels: z.array(z.string()),
  shares: z.array(z.number()),
  /** Share of values outside the known levels. */
  unseenShare: z.number(),
});

export const FeatureProfileSchema = z.discriminatedUnion('kind', [NumericProfileSchema, CategoricalProfileSchema]);

/**
 * Isotonic map from a row's top-class probability (its confidence) to the probability that the
 * prediction is right, fitted on labelled held-out rows (core/drift/quality.ts fitConfidenceCalibration).
 * Piecewise linear through (x, y), flat outside; used by confidence-based performance estimation.
 */
export const ConfidenceCalibrationSchema = z.object({
  x: z.array(z.number()),
  y: z.array(z.number()),
  /** Mean calibrated confidence on the rows it was fitted on, which equals their accuracy. */
  expectedAccuracy: z.number(),
  rows: z.number().int(),
});

export const PredictionProfileSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('classification'),
    classes: z.array(z.string()),
    /** Share of rows whose top class is each class. */
    classShares: z.array(z.number()),
    /** Distribution of the positive-class probability (binary) or top-class probability (multiclass). */
    score: NumericProfileSchema,
    /** Mean top-class probability over the profiled rows: the model's own expected accuracy (absent in older baselines). */
    expectedAccuracy: z.number().optional(),
    /** Confidence calibration for performance estimation without labels (optional). */
    calibration: ConfidenceCalibrationSchema.optional(),
  }),
  z.object({ kind: z.literal('regression'), value: NumericProfileSchema }),
]);

/**
 * The PCA of the standardized numeric features that the multivariate drift test reconstructs rows
 * with (core/drift/multivariate.ts), and the reconstruction error of the baseline's own rows.
 */
export const MultivariateProfileSchema = z.object({
  method: z.literal('pca_reconstruction'),
  /** Numeric features, in this order in mean, scale and each component. */
  features: z.array(z.string()),
  mean: z.array(z.number()),
  scale: z.array(z.number()),
  /** Kept principal components of the correlation matrix (unit vectors), largest first. */
  components: z.array(z.array(z.number())),
  /** Share of the standardized variance the kept components explain. */
  varianceExplained: z.number(),
  /**
   * Per-row reconstruction error over the baseline's complete reference rows (a uniform sample of up
   * to 5,000): mean, standard deviation, and every error sorted ascending, for the rank test.
   */
  referenceError: z.object({ mean: z.number(), std: z.number(), rows: z.number().int(), sorted: z.array(z.number()) }),
});

export const BaselineSchema = z.object({
  schemaVersion: z.literal(1),
  rows: z.number().int(),
  createdAt: z.iso.datetime(),
  features: z.array(FeatureProfileSchema),
  prediction: PredictionProfileSchema.optional(),
  metrics: z.record(z.string(), z.number()).default({}),
  /** PCA for the multivariate drift test (absent in older baselines: no multivariate test). */
  multivariate: MultivariateProfileSchema.optional(),
});

export type Baseline = z.infer<typeof BaselineSchema>;
export type NumericProfile = z.infer<typeof NumericProfileSchema>;
export type CategoricalProfile = z.infer<typeof CategoricalProfileSchema>;
export type FeatureProfile = z.infer<typeof FeatureProfileSchema>;
export type PredictionProfile = z.infer<typeof PredictionProfileSchema>;
export type ConfidenceCalibration = z.infer<typeof ConfidenceCalibrationSchema>;
export type MultivariateProfile = z.infer<typeof MultivariateProfileSchema>;

/**
 * Fewest baseline rows against which drift on small windows can be told from noise. Every test
 * compares two samples, so the baseline's own sampling error never shrinks with the window: the
 * smallest detectable change scales as √(1/n + 1/m), for a 100-row window 5% above the window's own
 * noise against 1,000 baseline rows, a third above it against 124. Seeded simulation (the class-prior
 * scenario of test/unit/drift-small-samples.test.ts): 95% of 140-row windows flagged against 1,000
 * rows, 67% against 124.
 */
export const RELIABLE_BASELINE_ROWS = 1000;

/** The warning a baseline of `rows` rows deserves, or null when it has at least RELIABLE_BASELINE_ROWS. */
export function smallBaselineWarning(rows: number): string | null {
  if (rows >= RELIABLE_BASELINE_ROWS) return null;
  return `the baseline profile has only ${rows} rows (fewer than ${RELIABLE_BASELINE_ROWS}): drift on small windows cannot be detected reliably against it; profile more data with mlops baseline`;
}

export interface ProfileOptions {
  /** Number of quantile bins per numeric feature. @default 10 */
  readonly bins?: number;
  /** Reservoir sample size per numeric column. @default 5000 */
  readonly sampleSize?: number;
  /** @default 7 */
  readonly seed?: number;
}

/** Bin index of a value: the number of edges ≤ value (binary search). */
export function binIndex(edges: readonly number[], value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Streams values of one numeric column: Welford moments, min/max, and a reservoir sample
 * (Vitter's Algorithm R) from which quantile edges and bin shares are computed.
 */
export class NumericAccumulator {
  private count = 0;
  private missing = 0;
  private mean = 0;
  private m2 = 0;
  private min = Infinity;
  private max = -Infinity;
  private readonly sample: number[] = [];
  private seen = 0;
  private readonly random: Random;

  constructor(
    private readonly name: string,
    private readonly options: ProfileOptions = {},
  ) {
    this.random = new Random(options.seed ?? 7);
  }

  add(value: number): void {
    // ±Infinity too, as the drift window counts them: a value no moment or quantile can use.
    if (!Number.isFinite(value)) {
      this.missing++;
      return;
    }
    this.count++;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (value - this.mean);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const capacity = this.options.sampleSize ?? 5000;
    if (this.sample.length < capacity) this.sample.push(value);
    else {
      const j = Math.floor(this.random.next() * (this.seen + 1));
      if (j < capacity) this.sample[j] = value;
    }
    this.seen++;
  }

  finish(): NumericProfile {
    const sorted = Float64Array.from(this.sample).sort();
    const bins = this.options.bins ?? 10;
    const edges: number[] = [];
    for (let b = 1; b < bins; b++) {
      const edge = quantileSorted(sorted, b / bins);
      // Ties (e.g. integer or zero-inflated columns) give repeated edges; keep each once.
      if (sorted.length > 0 && (edges.length === 0 || edge > edges[edges.length - 1]!)) edges.push(edge);
    }
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of sorted) counts[binIndex(edges, v)]!++;
    return {
      name: this.name,
      kind: 'numeric',
      count: this.count,
      missing: this.missing,
      mean: this.count ? this.mean : 0,
      std: this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 0,
      min: this.count ? this.min : 0,
      max: this.count ? this.max : 0,
      binEdges: edges,
      binShares: counts.map((c) => (sorted.length ? c / sorted.length : 0)),
      sample: this.sample.slice(),
    };
  }
}

/** Linear-interpolated quantile (type 7, as numpy's default) of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

/**
 * Builds a baseline from encoded rows (the model's input matrix: numbers, level indices,
 * NaN for missing) and, optionally, the model's scores on them.
 */
export class BaselineBuilder {
  private readonly numeric = new Map<number, NumericAccumulator>();
  private readonly levelCounts = new Map<number, number[]>();
  private readonly missing = new Map<number, number>();
  private rows = 0;
  private readonly classCounts: number[];
  private readonly score: NumericAccumulator;
  private confidenceSum = 0;
  private readonly pca: PcaAccumulator | undefined;

  constructor(
    private readonly manifest: Pick<Manifest, 'task' | 'input' | 'output' | 'metrics'>,
    private readonly options: ProfileOptions = {},
  ) {
    manifest.input.features.forEach((f, i) => {
      if (f.type === 'numeric') this.numeric.set(i, new NumericAccumulator(f.name, options));
      else this.levelCounts.set(i, new Array<number>(f.levels.length + 1).fill(0));
    });
    this.classCounts = new Array<number>(manifest.output.classes?.length ?? 0).fill(0);
    this.score = new NumericAccumulator('score', { ...options, bins: 10 });
    const numericColumns = [...this.numeric.keys()];
    this.pca =
      numericColumns.length >= 2
        ? new PcaAccumulator(numericColumns, numericColumns.map((c) => manifest.input.features[c]!.name), options.sampleSize ?? 5000, (options.seed ?? 7) + 1)
        : undefined;
  }

  /** Adds encoded rows (row-major, one column per feature) and their scores (probabilities per class, or values). */
  addRows(x: Float32Array, rows: number, scores?: { values: ArrayLike<number>; width: number }): void {
    const width = this.manifest.input.features.length;
    for (let r = 0; r < rows; r++) {
      for (const [column, accumulator] of this.numeric) accumulator.add(x[r * width + column]!);
      for (const [column, counts] of this.levelCounts) {
        const code = x[r * width + column]!;
        if (Number.isNaN(code)) this.missing.set(column, (this.missing.get(column) ?? 0) + 1);
        else counts[Number.isInteger(code) && code >= 0 && code < counts.length - 1 ? code : counts.length - 1]!++;
      }
      this.pca?.add(x, r * width);
      if (scores) this.addScore(scores, r);
    }
    this.rows += rows;
  }

  finish(createdAt = new Date()): Baseline {
    const features: FeatureProfile[] = this.manifest.input.features.map((feature: Feature, column) => {
      if (feature.type === 'numeric') return this.numeric.get(column)!.finish();
      const counts = this.levelCounts.get(column)!;
      const total = counts.reduce((a, b) => a + b, 0);
      return {
        name: feature.name,
        kind: 'categorical',
        count: total,
        missing: this.missing.get(column) ?? 0,
        levels: [...feature.levels],
        shares: counts.slice(0, -1).map((c) => (total ? c / total : 0)),
        unseenShare: total ? counts[counts.length - 1]! / total : 0,
      };
    });
    const classes = this.manifest.output.classes ?? [];
    const scored = this.classCounts.reduce((a, b) => a + b, 0);
    const score = this.score.finish();
    const prediction =
      score.count === 0
        ? undefined
        : this.manifest.task === 'regression'
          ? { kind: 'regression' as const, value: { ...score, name: 'prediction' } }
          : {
              kind: 'classification' as const,
              classes: [...classes],
              classShares: this.classCounts.map((c) => c / scored),
              score,
              expectedAccuracy: this.confidenceSum / scored,
            };
    const multivariate = this.pca?.finish();
    return {
      schemaVersion: 1,
      rows: this.rows,
      createdAt: createdAt.toISOString(),
      features,
      prediction,
      metrics: { ...this.manifest.metrics },
      ...(multivariate ? { multivariate } : {}),
    };
  }

  private addScore(scores: { values: ArrayLike<number>; width: number }, r: number): void {
    const { values, width } = scores;
    if (this.manifest.task === 'regression') {
      this.score.add(values[r * width]!);
      return;
    }
    const best = argmaxAt(values, r * width, width);
    this.classCounts[best]!++;
    this.confidenceSum += values[r * width + best]!;
    this.score.add(width === 2 ? values[r * 2 + 1]! : values[r * width + best]!);
  }
}

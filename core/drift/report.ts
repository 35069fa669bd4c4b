import { z } from 'zod';

/**
 * The drift report: a plain JSON object (no NaN, no Infinity: absent numbers are null) that the
 * monitor writes to S3, the HTML report and the dashboard plot, and the CLI prints. Produced by
 * detectDrift (core/drift/detect.ts).
 */

export const VerdictSchema = z.enum(['drift', 'no_drift', 'insufficient_data']);

/** An effect size and the threshold it must reach for a significant test to count as drift. */
export const EffectSchema = z.object({
  /** psi | wasserstein_std | linf | jensen_shannon | positive_rate_change */
  name: z.string(),
  value: z.number(),
  threshold: z.number(),
});

/** Baseline and current shares over the same bins (numeric) or levels (categorical), for plotting. */
export const HistogramSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('bins'),
    /** Interior bin edges (the baseline's quantiles); bin i holds values v with edges[i−1] ≤ v < edges[i]. */
    edges: z.array(z.number()),
    /** Plot range: the smallest and largest value seen on either side. */
    range: z.tuple([z.number(), z.number()]),
    baseline: z.array(z.number()),
    current: z.array(z.number()),
  }),
  z.object({
    type: z.literal('levels'),
    /** Level names; a last "(unseen)" entry holds codes outside the known levels. */
    labels: z.array(z.string()),
    baseline: z.array(z.number()),
    current: z.array(z.number()),
  }),
]);

/**
 * The test of a rise of one feature's missing rate: one-sided, in the report's multiple-testing family,
 * with a smallest rise that counts. Its verdict is the feature's second, beside the distribution's.
 */
export const MissingDriftSchema = z.object({
  baselineRate: z.number(),
  currentRate: z.number().nullable(),
  /** two_proportion_z, or fisher_exact when an expected count is under 5; none: no missing value on either side, or too few rows. */
  test: z.enum(['two_proportion_z', 'fisher_exact', 'none']),
  pValue: z.number().nullable(),
  adjustedPValue: z.number().nullable(),
  /** Smallest absolute rise of the rate that counts. */
  threshold: z.number(),
  verdict: VerdictSchema,
});

const SummarySchema = z.object({ mean: z.number().nullable(), std: z.number().nullable(), min: z.number().nullable(), max: z.number().nullable() });

export const FeatureDriftSchema = z.object({
  name: z.string(),
  /** binary: a two-level categorical or a numeric column with two values in the baseline. */
  kind: z.enum(['numeric', 'categorical', 'binary']),
  /**
   * anderson_darling (numeric, k-sample AD of Scholz & Stephens 1987) | ks (numeric with many ties, or when asked) | chi_square |
   * two_proportion_z | fisher_exact (two shares, an expected count under 5) | none (nothing to compare, e.g. a single level)
   */
  test: z.enum(['anderson_darling', 'ks', 'chi_square', 'two_proportion_z', 'fisher_exact', 'none']),
  statistic: z.number().nullable(),
  /** Chi-square degrees of freedom. */
  dof: z.number().int().nullable(),
  pValue: z.number().nullable(),
  /** p-value after the multiple-testing correction across every test of the report. */
  adjustedPValue: z.number().nullable(),
  /** The effect size that decided the gate (the largest relative to its threshold). */
  effect: EffectSchema.nullable(),
  /**
   * Every effect size computed; any one at or above its threshold opens the gate. Each threshold is
   * the configured one plus the effect's mean under no drift at the sample sizes compared (detect.ts).
   */
  effects: z.array(EffectSchema),
  verdict: VerdictSchema,
  /** Non-missing values compared on each side (numeric: the sampled values for KS are at most the window sample size). */
  counts: z.object({ baseline: z.number().int(), current: z.number().int() }),
  /** Missing values over all rows, on each side (null where a side has no rows). */
  missingRate: z.object({ baseline: z.number().nullable(), current: z.number().nullable() }),
  /** The missing-rate test of this feature, its own verdict beside the distribution's (absent in reports made before it existed). */
  missing: MissingDriftSchema.optional(),
  /** Share of values outside the baseline's levels (categorical and binary; null for numeric). */
  unseenShare: z.object({ baseline: z.number(), current: z.number().nullable() }).nullable(),
  histogram: HistogramSchema,
  summary: z.object({ baseline: SummarySchema, current: SummarySchema }).nullable(),
});

export const ScoreDriftSchema = z.object({
  test: z.literal('ks'),
  statistic: z.number().nullable(),
  pValue: z.number().nullable(),
  adjustedPValue: z.number().nullable(),
  psi: z.number().nullable(),
  /** alert: KS significant and PSI ≥ alert threshold; warn: KS significant and PSI ≥ warn threshold. */
  status: z.enum(['ok', 'warn', 'alert', 'insufficient_data']),
  thresholds: z.object({ warn: z.number(), alert: z.number() }),
  histogram: HistogramSchema,
});

export const ClassShareDriftSchema = z.object({
  /** chi_square over the classes; for two classes, the two-proportion z-test of the positive rate. */
  test: z.enum(['chi_square', 'two_proportion_z']),
  statistic: z.number().nullable(),
  dof: z.number().int().nullable(),
  pValue: z.number().nullable(),
  adjustedPValue: z.number().nullable(),
  effect: EffectSchema.nullable(),
  verdict: VerdictSchema,
  classes: z.array(z.string()),
  baseline: z.array(z.number()),
  current: z.array(z.number()),
  /** Share of rows predicted as the positive (second) class, binary models only. */
  positiveRate: z.object({ baseline: z.number(), current: z.number().nullable() }).nullable(),
});

export const PredictionDriftSchema = z.object({
  kind: z.enum(['classification', 'regression']),
  /** drift: class shares drifted or the score alerts; warn: the score warns. */
  verdict: z.enum(['drift', 'warn', 'no_drift', 'insufficient_data']),
  score: ScoreDriftSchema,
  classShares: ClassShareDriftSchema.nullable(),
});

/** The labelled-quality metrics: accuracy and macro-F1 (classification), MAE and RMSE (regression). */
export const QualityMetricNameSchema = z.enum(['accuracy', 'macroF1', 'mae', 'rmse']);

export const QualityMetricSchema = z.object({
  name: QualityMetricNameSchema,
  baseline: z.number(),
  current: z.number().nullable(),
  /** current − baseline. */
  change: z.number().nullable(),
  /**
   * One-sided tests of a degradation that count the baseline's own sampling error (it was measured
   * on `baselineRows` rows): two_proportion_z (accuracy, pooled), bootstrap (macro-F1, bootstrap
   * standard errors of both sides), log_ratio_z (MAE, RMSE: the log of current over baseline against
   * both sides' standard errors). See core/drift/quality.ts.
   */
  test: z.enum(['two_proportion_z', 'bootstrap', 'log_ratio_z']),
  pValue: z.number().nullable(),
  /** Smallest degradation that counts: an absolute drop (accuracy, F1) or a relative increase (MAE, RMSE). */
  threshold: z.number(),
  /** Rows the baseline's value was measured on (its validation rows; the profile's rows where the package does not say). */
  baselineRows: z.number().int(),
  verdict: z.enum(['degraded', 'no_degradation', 'insufficient_data']),
});

/**
 * Realized quality of the labelled predictions captured on one UTC day: each metric's value on
 * that day's rows (accuracy and macroF1, or mae and rmse), without a test (a day is often few rows).
 */
export const QualityPeriodSchema = z.object({
  /** The UTC day of the predictions' capture time, YYYY-MM-DD. */
  day: z.string(),
  labeledRows: z.number().int(),
  accuracy: z.number().optional(),
  macroF1: z.number().optional(),
  mae: z.number().optional(),
  rmse: z.number().optional(),
});

export const EstimatedQualitySchema = z.object({
  /** Confidence-based performance estimation (NannyML's CBPE) of accuracy. */
  method: z.literal('cbpe'),
  metric: z.literal('accuracy'),
  /** The baseline's value: its accuracy where a calibration was fitted, else its own mean confidence. */
  reference: z.number(),
  estimate: z.number().nullable(),
  change: z.number().nullable(),
  standardError: z.number().nullable(),
  calibrated: z.boolean(),
  threshold: z.number(),
  /**
   * The estimate per chunk of consecutive rows, with its band (estimate ± sigmas standard errors)
   * and the baseline's band at that chunk size (reference ± sigmas √(r(1−r)/rows)); `alarm` when
   * the chunk's band lies wholly below the baseline's and the drop is material.
   */
  chunks: z
    .array(z.object({ rows: z.number().int(), estimate: z.number(), lower: z.number(), upper: z.number(), baselineLower: z.number(), baselineUpper: z.number(), alarm: z.boolean() }))
    .default([]),
  alarm: z.boolean(),
  verdict: z.enum(['degraded', 'no_degradation', 'insufficient_data']),
});

export const QualitySchema = z.object({
  /** Labelled rows the metrics were measured on (the monitor: late labels joined in this run). */
  labeledRows: z.number().int(),
  metrics: z.array(QualityMetricSchema),
  /** Some labelled metric degraded significantly and materially. */
  alarm: z.boolean(),
  estimated: EstimatedQualitySchema.nullable(),
  /** The labelled rows per UTC day of capture (the monitor's late labels); empty where rows carry no capture time, as a CSV file's. */
  periods: z.array(QualityPeriodSchema).default([]),
});

/**
 * The multivariate test: PCA reconstruction error of the standardized numeric features (NannyML's data
 * reconstruction drift), the window's mean error against the baseline's (core/drift/multivariate.ts).
 * Reported beside the per-feature verdicts; it is not in the multiple-testing family and does not set
 * dataset.alert.
 */
export const MultivariateDriftSchema = z.object({
  method: z.literal('pca_reconstruction'),
  features: z.array(z.string()),
  /** Principal components kept. */
  components: z.number().int(),
  varianceExplained: z.number(),
  /** Mean and standard deviation of the per-row error on the baseline's rows. */
  baselineError: z.number(),
  baselineErrorStd: z.number(),
  /** Mean per-row error on the window's complete rows. */
  currentError: z.number().nullable(),
  /** Complete window rows the error was measured on. */
  rows: z.number().int(),
  /** Chance that a window row's error exceeds a baseline row's: Mann–Whitney U / (rows · baseline rows); 0.5 under no drift. */
  probabilityHigher: z.number().nullable(),
  /** The probabilityHigher at which the one-sided test reaches alpha. */
  threshold: z.number().nullable(),
  /** z of U against its no-drift mean and standard deviation (with a continuity correction). */
  statistic: z.number().nullable(),
  pValue: z.number().nullable(),
  alpha: z.number(),
  verdict: VerdictSchema,
  /** Why the test could not run, when it could not. */
  note: z.string().nullable(),
});

export const DriftReportSchema = z.object({
  schemaVersion: z.literal(1),
  dataset: z.object({
    /** insufficient_data: fewer than the minimum rows on either side, and then no test ran. */
    verdict: VerdictSchema,
    /**
     * Raise the alarm: some feature's distribution or missing rate drifted (after correction and
     * effect gate) or the predictions drifted. The monitor's alarm reads it.
     */
    alert: z.boolean(),
    /** Features whose distribution drifted; a missing-rate drift is the feature's `missing.verdict`. */
    driftedFeatures: z.array(z.string()),
    /** Drifted features over all features. */
    driftedShare: z.number(),
    /** Features whose distribution was tested (enough non-missing values on both sides). */
    testedFeatures: z.number().int(),
    insufficientFeatures: z.array(z.string()),
    predictionDrift: z.boolean(),
    warnings: z.array(z.string()),
  }),
  sampleSizes: z.object({
    baselineRows: z.number().int(),
    currentRows: z.number().int(),
    scoredRows: z.number().int(),
    labeledRows: z.number().int(),
  }),
  multipleTesting: z.object({
    correction: z.enum(['bonferroni', 'benjamini-hochberg', 'none']),
    alpha: z.number(),
    /** Number of tests in the family (every feature and prediction test with enough data). */
    tests: z.number().int(),
  }),
  features: z.array(FeatureDriftSchema),
  prediction: PredictionDriftSchema.nullable(),
  quality: QualitySchema.nullable(),
  /** The multivariate test; null (or absent in older reports) when the baseline has no PCA profile. */
  multivariate: MultivariateDriftSchema.nullable().optional(),
  /** The decision settings used (defaults filled in). */
  settings: z.record(z.string(), z.unknown()),
});

export type DriftReport = z.infer<typeof DriftReportSchema>;
export type FeatureDrift = z.infer<typeof FeatureDriftSchema>;
export type MissingDrift = z.infer<typeof MissingDriftSchema>;
export type PredictionDrift = z.infer<typeof PredictionDriftSchema>;
export type QualityReport = z.infer<typeof QualitySchema>;
export type QualityMetric = z.infer<typeof QualityMetricSchema>;
export type QualityMetricName = z.infer<typeof QualityMetricNameSchema>;
export type QualityPeriod = z.infer<typeof QualityPeriodSchema>;
export type EstimatedQuality = z.infer<typeof EstimatedQualitySchema>;
export type Effect = z.infer<typeof EffectSchema>;
export type MultivariateDrift = z.infer<typeof MultivariateDriftSchema>;
export type Histogram = z.infer<typeof HistogramSchema>;
export type Verdict = z.infer<typeof VerdictSchema>;

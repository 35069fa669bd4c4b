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

const SummarySchema = z.object({ mean: z.number().nullable(), std: z.number().nullable(), min: z.number().nullable(), max: z.number().nullable() });

export const FeatureDriftSchema = z.object({
  name: z.string(),
  /** binary: a two-level categorical or a numeric column with two values in the baseline. */
  kind: z.enum(['numeric', 'categorical', 'binary']),
  /** ks | chi_square | two_proportion_z | none (nothing to compare, e.g. a single level) */
  test: z.enum(['ks', 'chi_square', 'two_proportion_z', 'none']),
  statistic: z.number().nullable(),
  /** Chi-square degrees of freedom. */
  dof: z.number().int().nullable(),
  pValue: z.number().nullable(),
  /** p-value after the multiple-testing correction across every test of the report. */
  adjustedPValue: z.number().nullable(),
  /** The effect size that decided the gate (the largest relative to its threshold). */
  effect: EffectSchema.nullable(),
  /** Every effect size computed; any one at or above its threshold opens the gate. */
  effects: z.array(EffectSchema),
  verdict: VerdictSchema,
  /** Non-missing values compared on each side (numeric: the sampled values for KS are at most the window sample size). */
  counts: z.object({ baseline: z.number().int(), current: z.number().int() }),
  missingRate: z.object({ baseline: z.number().nullable(), current: z.number().nullable() }),
  /** The missing-rate test of this feature, its own verdict beside the distribution's (absent in reports made before it existed). */
  missing: z
    .object({
      baselineRate: z.number(),
      currentRate: z.number().nullable(),
      test: z.literal('two_proportion_z'),
      pValue: z.number().nullable(),
      adjustedPValue: z.number().nullable(),
      /** Smallest absolute rise of the rate that counts. */
      threshold: z.number(),
      verdict: VerdictSchema,
    })
    .optional(),
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

export const QualityMetricSchema = z.object({
  name: z.enum(['accuracy', 'macroF1', 'rmse']),
  baseline: z.number(),
  current: z.number().nullable(),
  /** current − baseline. */
  change: z.number().nullable(),
  /** two_proportion_z (accuracy, one-sided), bootstrap (macro-F1, one-sided), chi_square_variance (RMSE, one-sided). */
  test: z.enum(['two_proportion_z', 'bootstrap', 'chi_square_variance']),
  pValue: z.number().nullable(),
  /** Smallest degradation that counts: an absolute drop (accuracy, F1) or a relative increase (RMSE). */
  threshold: z.number(),
  verdict: z.enum(['degraded', 'no_degradation', 'insufficient_data']),
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
  alarm: z.boolean(),
  verdict: z.enum(['degraded', 'no_degradation', 'insufficient_data']),
});

export const QualitySchema = z.object({
  labeledRows: z.number().int(),
  metrics: z.array(QualityMetricSchema),
  /** Some labelled metric degraded significantly and materially. */
  alarm: z.boolean(),
  estimated: EstimatedQualitySchema.nullable(),
});

export const DriftReportSchema = z.object({
  schemaVersion: z.literal(1),
  dataset: z.object({
    verdict: VerdictSchema,
    /** Raise the alarm: some feature drifted (after correction and effect gate) or the predictions drifted. */
    alert: z.boolean(),
    driftedFeatures: z.array(z.string()),
    /** Drifted features over all features. */
    driftedShare: z.number(),
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
  /** The decision settings used (defaults filled in). */
  settings: z.record(z.string(), z.unknown()),
});

export type DriftReport = z.infer<typeof DriftReportSchema>;
export type FeatureDrift = z.infer<typeof FeatureDriftSchema>;
export type PredictionDrift = z.infer<typeof PredictionDriftSchema>;
export type QualityReport = z.infer<typeof QualitySchema>;
export type QualityMetric = z.infer<typeof QualityMetricSchema>;
export type EstimatedQuality = z.infer<typeof EstimatedQualitySchema>;
export type Effect = z.infer<typeof EffectSchema>;
export type Histogram = z.infer<typeof HistogramSchema>;
export type Verdict = z.infer<typeof VerdictSchema>;

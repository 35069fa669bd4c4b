import type { Baseline, ConfidenceCalibration, PredictionProfile } from './baseline';
import { Random } from '../random';
import type { EstimatedQuality, QualityMetric, QualityReport } from './report';
import { chiSquareSf, normalSf } from './special';
import type { DriftWindow } from './window';

/**
 * Model-quality drift: with labels, the current accuracy / macro-F1 (classification) or RMSE
 * (regression) against the baseline's metrics, each with a one-sided significance test and a
 * materiality threshold; without labels, confidence-based performance estimation (CBPE).
 */

export interface QualityOptions {
  /** One-sided significance level of each quality test (its own alarm, outside the drift family). @default 0.05 */
  readonly alpha?: number;
  /** Smallest accuracy drop (absolute) that counts as degradation. @default 0.03 */
  readonly minAccuracyDrop?: number;
  /** Smallest macro-F1 drop (absolute) that counts as degradation. @default 0.03 */
  readonly minF1Drop?: number;
  /** Smallest relative RMSE increase that counts as degradation. @default 0.1 */
  readonly minRmseIncrease?: number;
  /** Bootstrap resamples for the macro-F1 test. @default 1000 */
  readonly bootstrapResamples?: number;
  /** Smallest drop of the CBPE accuracy estimate below its reference that raises the estimated-quality alarm. @default 0.03 */
  readonly cbpeMinDrop?: number;
  /** The CBPE drop must also exceed this many standard errors of the estimate (NannyML's default band is ±3σ). @default 3 */
  readonly cbpeSigmas?: number;
  /** Fewest labelled (or scored, for CBPE) rows for a verdict. @default the detector's minSampleSize (200) */
  readonly minSampleSize?: number;
  /** @default 11 */
  readonly seed?: number;
}

export const QUALITY_DEFAULTS = {
  alpha: 0.05,
  minAccuracyDrop: 0.03,
  minF1Drop: 0.03,
  minRmseIncrease: 0.1,
  bootstrapResamples: 1000,
  cbpeMinDrop: 0.03,
  cbpeSigmas: 3,
  minSampleSize: 200,
  seed: 11,
} as const;

/**
 * Fits the isotonic (monotone non-decreasing) map from a prediction's confidence (its top-class
 * probability) to the probability that it is right, by pool-adjacent-violators (Ayer et al. 1955;
 * Zadrozny & Elkan 2002, "Transforming classifier scores into accurate multiclass probability
 * estimates", KDD). Fit it on labelled held-out rows and store it in the baseline
 * (prediction.calibration); CBPE then uses calibrated confidences, as NannyML does.
 * `probabilities` is row-major with `width` classes; `labels` holds class indices.
 */
export function fitConfidenceCalibration(probabilities: ArrayLike<number>, width: number, labels: ArrayLike<number>): ConfidenceCalibration {
  const rows = labels.length;
  const pairs: [number, number][] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (probabilities[r * width + k]! > probabilities[r * width + best]!) best = k;
    const confidence = probabilities[r * width + best]!;
    if (Number.isFinite(confidence) && Number.isInteger(labels[r]!)) pairs.push([confidence, labels[r] === best ? 1 : 0]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  // Blocks of [sum of targets, weight, first x, last x], merged while they violate monotonicity.
  // Equal confidences form one block from the start (as sklearn's IsotonicRegression pools tied x).
  const blocks: [number, number, number, number][] = [];
  for (const [x, y] of pairs) {
    const top = blocks[blocks.length - 1];
    if (top && top[3] === x) {
      top[0] += y;
      top[1] += 1;
    } else blocks.push([y, 1, x, x]);
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!;
      const previous = blocks[blocks.length - 2]!;
      if (previous[0] / previous[1] < last[0] / last[1]) break;
      blocks.pop();
      blocks[blocks.length - 1] = [previous[0] + last[0], previous[1] + last[1], previous[2], last[3]];
    }
  }
  const x: number[] = [];
  const y: number[] = [];
  for (const [sum, weight, first, last] of blocks) {
    const value = sum / weight;
    x.push(first);
    y.push(value);
    if (last > first) {
      x.push(last);
      y.push(value);
    }
  }
  const correct = pairs.reduce((s, [, t]) => s + t, 0);
  return { x, y, expectedAccuracy: pairs.length ? correct / pairs.length : 0, rows: pairs.length };
}

/**
 * The baseline's own expected accuracy, the reference CBPE compares with: the validation accuracy
 * when a calibration was fitted (isotonic fits preserve the mean, so calibrated confidences average
 * to it), else the baseline's mean top-class probability (older baselines: estimated from the score sample).
 */
export function cbpeReference(prediction: Extract<PredictionProfile, { kind: 'classification' }>): { reference: number; calibrated: boolean } {
  if (prediction.calibration) return { reference: prediction.calibration.expectedAccuracy, calibrated: true };
  if (prediction.expectedAccuracy !== undefined) return { reference: prediction.expectedAccuracy, calibrated: false };
  const sample = prediction.score.sample;
  const binary = prediction.classes.length === 2;
  const mean = sample.reduce((s, v) => s + (binary ? Math.max(v, 1 - v) : v), 0) / Math.max(sample.length, 1);
  return { reference: mean, calibrated: false };
}

/** Macro-F1 from a confusion matrix, as core/model/metrics.ts computes it. */
export function macroF1(confusion: readonly (readonly number[])[]): number {
  const classes = confusion.length;
  let total = 0;
  for (let k = 0; k < classes; k++) {
    const tp = confusion[k]![k]!;
    let predicted = 0;
    let actual = 0;
    for (let j = 0; j < classes; j++) {
      predicted += confusion[j]![k]!;
      actual += confusion[k]![j]!;
    }
    total += tp === 0 ? 0 : (2 * tp) / (predicted + actual);
  }
  return total / classes;
}

/** The shared PRNG with the binomial draws the bootstrap needs. */
class Mulberry extends Random {
  /** Binomial(n, p): inversion for small means, the normal approximation (rounded, clipped) otherwise. */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const mean = n * p;
    if (mean * (1 - p) > 25) return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * this.normal())));
    const q = 1 - p;
    let probability = Math.pow(q, n);
    let cumulative = probability;
    const u = this.next();
    let k = 0;
    while (u > cumulative && k < n) {
      probability *= ((n - k) / (k + 1)) * (p / q);
      cumulative += probability;
      k++;
    }
    return k;
  }
}

/**
 * One-sided bootstrap p-value that the current macro-F1 is not below the baseline's: the share of
 * resampled confusion matrices whose macro-F1 reaches the baseline (Efron & Tibshirani 1993,
 * "An Introduction to the Bootstrap", §16.4). Rows are resampled as a multinomial over the
 * confusion cells, drawn by conditional binomials, so the cost does not grow with the row count.
 */
function bootstrapF1PValue(confusion: readonly (readonly number[])[], baseline: number, resamples: number, seed: number): number {
  const classes = confusion.length;
  const cells = confusion.flat();
  const n = cells.reduce((s, v) => s + v, 0);
  const random = new Mulberry(seed);
  let atLeast = 0;
  const resampled = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let b = 0; b < resamples; b++) {
    let remaining = n;
    let remainingWeight = n;
    for (let c = 0; c < cells.length; c++) {
      const draw = c === cells.length - 1 ? remaining : random.binomial(remaining, remainingWeight > 0 ? cells[c]! / remainingWeight : 0);
      resampled[Math.floor(c / classes)]![c % classes] = draw;
      remaining -= draw;
      remainingWeight -= cells[c]!;
    }
    if (macroF1(resampled) >= baseline) atLeast++;
  }
  return (atLeast + 1) / (resamples + 1);
}

function metricVerdict(pValue: number | null, degradation: number | null, threshold: number, alpha: number): QualityMetric['verdict'] {
  if (pValue === null || degradation === null) return 'insufficient_data';
  return pValue < alpha && degradation >= threshold ? 'degraded' : 'no_degradation';
}

/** Quality drift of the window's labelled rows, and the CBPE estimate over all scored rows. */
export function assessQuality(baseline: Baseline, window: DriftWindow, options: QualityOptions = {}): QualityReport | null {
  const o = { ...QUALITY_DEFAULTS, ...options };
  const prediction = baseline.prediction;
  if (!prediction) return null;
  const metrics: QualityMetric[] = [];
  const labels = window.labels;
  const labeledRows = labels?.rows ?? 0;
  const enough = labeledRows >= o.minSampleSize;
  const referenceRows = baseline.metrics.rows;

  if (labels?.kind === 'classification') {
    const correct = labels.confusion.reduce((s, row, k) => s + row[k]!, 0);
    const accuracy = labeledRows ? correct / labeledRows : null;
    const base = baseline.metrics.accuracy;
    if (base !== undefined) {
      let pValue: number | null = null;
      if (enough && accuracy !== null) {
        // One-sided test of a drop. With the baseline's evaluation size known: two-proportion z (pooled);
        // otherwise the baseline accuracy is taken as the known rate (one-sample z).
        const n0 = referenceRows !== undefined && referenceRows > 0 ? referenceRows : undefined;
        const pooled = n0 ? (base * n0 + correct) / (n0 + labeledRows) : base;
        const se = Math.sqrt(pooled * (1 - pooled) * ((n0 ? 1 / n0 : 0) + 1 / labeledRows));
        pValue = se > 0 ? normalSf((base - accuracy) / se) : base > accuracy ? 0 : 1;
      }
      const change = enough && accuracy !== null ? accuracy - base : null;
      metrics.push({
        name: 'accuracy',
        baseline: base,
        current: enough ? accuracy : null,
        change,
        test: 'two_proportion_z',
        pValue,
        threshold: o.minAccuracyDrop,
        verdict: metricVerdict(pValue, change === null ? null : -change, o.minAccuracyDrop, o.alpha),
      });
    }
    const baseF1 = baseline.metrics.macroF1;
    if (baseF1 !== undefined) {
      const current = enough ? macroF1(labels.confusion) : null;
      const pValue = enough ? bootstrapF1PValue(labels.confusion, baseF1, o.bootstrapResamples, o.seed) : null;
      const change = current === null ? null : current - baseF1;
      metrics.push({
        name: 'macroF1',
        baseline: baseF1,
        current,
        change,
        test: 'bootstrap',
        pValue,
        threshold: o.minF1Drop,
        verdict: metricVerdict(pValue, change === null ? null : -change, o.minF1Drop, o.alpha),
      });
    }
  } else if (labels?.kind === 'regression') {
    const baseRmse = baseline.metrics.rmse;
    if (baseRmse !== undefined && baseRmse > 0) {
      const rmse = enough ? Math.sqrt(labels.sumSquaredError / labeledRows) : null;
      // Under "errors as at baseline" (mean 0, variance rmse₀²), SSE / rmse₀² ~ χ²(n): a one-sided variance test.
      const pValue = enough ? chiSquareSf(labels.sumSquaredError / (baseRmse * baseRmse), labeledRows) : null;
      metrics.push({
        name: 'rmse',
        baseline: baseRmse,
        current: rmse,
        change: rmse === null ? null : rmse - baseRmse,
        test: 'chi_square_variance',
        pValue,
        threshold: o.minRmseIncrease,
        verdict: metricVerdict(pValue, rmse === null ? null : rmse / baseRmse - 1, o.minRmseIncrease, o.alpha),
      });
    }
  }

  let estimated: EstimatedQuality | null = null;
  if (prediction.kind === 'classification') {
    const { reference, calibrated } = cbpeReference(prediction);
    const n = window.scoredRows;
    const sufficient = n >= o.minSampleSize;
    const estimate = sufficient ? window.confidenceSum / n : null;
    const variance = sufficient && estimate !== null ? Math.max(0, (window.confidenceSquares - n * estimate * estimate) / (n - 1)) : null;
    const standardError = variance === null ? null : Math.sqrt(variance / n);
    const drop = estimate === null ? null : reference - estimate;
    const alarm = drop !== null && standardError !== null && drop >= o.cbpeMinDrop && drop >= o.cbpeSigmas * standardError;
    estimated = {
      method: 'cbpe',
      metric: 'accuracy',
      reference,
      estimate,
      change: drop === null ? null : -drop,
      standardError,
      calibrated,
      threshold: o.cbpeMinDrop,
      alarm,
      verdict: !sufficient ? 'insufficient_data' : alarm ? 'degraded' : 'no_degradation',
    };
  }
  return { labeledRows, metrics, alarm: metrics.some((m) => m.verdict === 'degraded'), estimated };
}

import { describe, expect, it } from 'vitest';
import { BaselineSchema } from '../../core/drift/baseline';
import { normalCdf } from '../../core/drift/special';
import { detectDriftOnRows } from '../../core/drift/detect';
import { assessLabelledQuality, cbpeReference, fitConfidenceCalibration, type LabelledRows, macroF1, realizedMetrics } from '../../core/drift/quality';
import { baselineOf, draws, matrix, type ModelDef, scoreRows } from '../fixtures/drift/builders';

const model: ModelDef = { task: 'binary', features: [{ name: 'x', type: 'numeric' }], metrics: { accuracy: 0.85, macroF1: 0.84, rows: 2000 } };

/** Binary scores whose top-class probability is `confidence(row)`, predicting class 1 on even rows. */
function scoresWith(rows: number, confidence: (row: number) => number) {
  return scoreRows(rows, 2, (r) => {
    const c = confidence(r);
    return r % 2 === 0 ? [1 - c, c] : [c, 1 - c];
  });
}

/** Labels that agree with the prediction (class 1 on even rows) with probability `accuracy`. */
function labelsWith(rows: number, accuracy: number, seed: number): Float64Array {
  const d = draws(seed);
  return Float64Array.from({ length: rows }, (_, r) => {
    const predicted = r % 2 === 0 ? 1 : 0;
    return d.random.next() < accuracy ? predicted : 1 - predicted;
  });
}

const baseline = baselineOf(model, 4000, [draws(1).normal()], scoresWith(4000, () => 0.85));

function run(rows: number, confidence: (row: number) => number, labels?: Float64Array) {
  return detectDriftOnRows(baseline, matrix(rows, [draws(2).normal()]), rows, { scores: scoresWith(rows, confidence), labels });
}

describe('confidence-based performance estimation (CBPE)', () => {
  it('estimates each chunk of 1,000 rows, and alarms on a chunk whose band falls below the baseline band although the window mean stays within', () => {
    // Five chunks; the fourth loses 10 points of confidence: the window's mean drops only 2.
    const estimated = run(5000, (r) => (r >= 3000 && r < 4000 ? 0.75 : 0.85)).quality!.estimated!;

    expect(estimated.chunks.map((c) => c.rows)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(estimated.chunks.map((c) => c.alarm)).toEqual([false, false, false, true, false]);
    expect(estimated.chunks[3]!.upper).toBeLessThan(estimated.chunks[3]!.baselineLower);
    expect(estimated.change).toBeCloseTo(-0.02, 9);
    expect(estimated.alarm).toBe(true);
  });

  it('raises no chunk alarm while every chunk stays at the baseline confidence', () => {
    expect(run(5000, () => 0.85).quality!.estimated!.chunks.some((c) => c.alarm)).toBe(false);
  });

  it('estimates accuracy as the mean top-class probability, against the baseline’s own', () => {
    const estimated = run(1000, (r) => (r % 4 < 2 ? 0.9 : 0.7)).quality!.estimated!;
    expect(estimated.estimate).toBeCloseTo(0.8, 12);
    expect(estimated.reference).toBeCloseTo(0.85, 12);
    expect(estimated).toMatchObject({ method: 'cbpe', metric: 'accuracy', calibrated: false });
  });

  it('raises its own alarm when the estimate falls materially below the reference', () => {
    const r = run(1000, () => 0.7);
    expect(r.quality!.estimated).toMatchObject({ alarm: true, verdict: 'degraded' });
    expect(r.quality!.estimated!.change).toBeCloseTo(-0.15, 12);
    expect(r.dataset.warnings.join()).toMatch(/CBPE/);
  });

  it('stays quiet when confidence is as at baseline', () => {
    expect(run(1000, () => 0.85).quality!.estimated).toMatchObject({ alarm: false, verdict: 'no_degradation' });
  });

  it('gives insufficient_data under 200 scored rows', () => {
    expect(run(150, () => 0.5).quality!.estimated).toMatchObject({ alarm: false, verdict: 'insufficient_data', estimate: null });
  });

  it('uses a fitted calibration: an overconfident model is estimated at its real accuracy', () => {
    // The model claims 0.9 but is right 60% of the time on the held-out rows the calibration is fitted on.
    const held = scoresWith(4000, () => 0.9);
    const calibration = fitConfidenceCalibration(held.values, 2, labelsWith(4000, 0.6, 3));
    const calibrated = BaselineSchema.parse({ ...baseline, prediction: { ...baseline.prediction!, calibration } });
    const r = detectDriftOnRows(calibrated, matrix(1000, [draws(4).normal()]), 1000, { scores: scoresWith(1000, () => 0.9) });
    expect(r.quality!.estimated!.calibrated).toBe(true);
    expect(r.quality!.estimated!.estimate).toBeCloseTo(0.6, 1);
    expect(r.quality!.estimated!.reference).toBeCloseTo(0.6, 1);
    expect(r.quality!.estimated!.alarm).toBe(false);
  });

  it('falls back to the score sample for baselines written before expectedAccuracy existed', () => {
    const { expectedAccuracy: _dropped, ...older } = baseline.prediction as Extract<typeof baseline.prediction, { kind: 'classification' }>;
    expect(cbpeReference(older).reference).toBeCloseTo(0.85, 9);
  });
});

describe('fitConfidenceCalibration', () => {
  it('is monotone and preserves the mean (the fitted rows’ accuracy)', () => {
    const d = draws(5);
    const rows = 3000;
    const confidences = Array.from({ length: rows }, () => 0.5 + 0.5 * d.random.next());
    const probabilities = Float64Array.from(confidences.flatMap((c) => [1 - c, c]));
    // Right with probability c² (overconfident), so the map bends below the diagonal.
    const labels = Float64Array.from(confidences, (c) => (d.random.next() < c * c ? 1 : 0));
    const calibration = fitConfidenceCalibration(probabilities, 2, labels);
    for (let i = 1; i < calibration.y.length; i++) expect(calibration.y[i]!).toBeGreaterThanOrEqual(calibration.y[i - 1]!);
    const accuracy = labels.reduce((a, b) => a + b, 0) / rows;
    expect(calibration.expectedAccuracy).toBeCloseTo(accuracy, 12);
    expect(calibration.rows).toBe(rows);
  });
});

describe('labelled quality', () => {
  it('flags a significant, material accuracy and macro-F1 drop', () => {
    const quality = run(1000, () => 0.85, labelsWith(1000, 0.7, 6)).quality!;
    const accuracy = quality.metrics.find((m) => m.name === 'accuracy')!;
    expect(accuracy).toMatchObject({ test: 'two_proportion_z', verdict: 'degraded' });
    expect(accuracy.pValue).toBeLessThan(1e-6);
    expect(quality.metrics.find((m) => m.name === 'macroF1')).toMatchObject({ test: 'bootstrap', verdict: 'degraded' });
    expect(quality.alarm).toBe(true);
    expect(quality.labeledRows).toBe(1000);
  });

  it('does not flag accuracy at the baseline level', () => {
    const quality = run(1000, () => 0.85, labelsWith(1000, 0.86, 7)).quality!;
    expect(quality.metrics.map((m) => m.verdict)).toEqual(['no_degradation', 'no_degradation']);
    expect(quality.alarm).toBe(false);
  });

  it('does not flag a drop smaller than the threshold, even when significant on many rows', () => {
    const quality = run(50_000, () => 0.85, labelsWith(50_000, 0.835, 8)).quality!;
    const accuracy = quality.metrics.find((m) => m.name === 'accuracy')!;
    expect(accuracy.pValue).toBeLessThan(0.05);
    expect(accuracy.verdict).toBe('no_degradation');
  });

  it('gives insufficient_data under 200 labelled rows', () => {
    const labels = labelsWith(1000, 0.5, 9).map((v, r) => (r < 150 ? v : Number.NaN));
    const quality = run(1000, () => 0.85, labels).quality!;
    expect(quality.labeledRows).toBe(150);
    expect(quality.metrics.every((m) => m.verdict === 'insufficient_data')).toBe(true);
  });

});

describe('labelled quality against a baseline measured on few rows', () => {
  /** Binary labels: 600 + 360 right, 20 wrong each way: accuracy 0.96, macro-F1 ≈ 0.957. */
  const window: LabelledRows = { kind: 'classification', confusion: [[600, 20], [20, 360]], rows: 1000 };
  const packageWith = (metrics: Record<string, number>) => baselineOf({ ...model, metrics }, 4000, [draws(1).normal()], scoresWith(4000, () => 0.85));

  it('does not alarm when a 60-row validation set at accuracy 1.0 meets a 96%-accurate window', () => {
    const quality = assessLabelledQuality(packageWith({ accuracy: 1, macroF1: 1, rows: 60 }), window);
    // Both drops are material (≥ 0.03) but within what 60 validation rows can show by chance.
    expect(quality.metrics.map((m) => [m.name, m.verdict, m.baselineRows])).toEqual([['accuracy', 'no_degradation', 60], ['macroF1', 'no_degradation', 60]]);
    expect(Math.min(...quality.metrics.map((m) => m.pValue!))).toBeGreaterThan(0.05);
    expect(quality.alarm).toBe(false);
  });

  it('alarms on the same window when the baseline was measured on many rows', () => {
    const quality = assessLabelledQuality(packageWith({ accuracy: 0.995, macroF1: 0.995, rows: 20_000 }), window);
    expect(quality.metrics.map((m) => m.verdict)).toEqual(['degraded', 'degraded']);
    expect(quality.metrics[0]!.pValue).toBeLessThan(1e-6);
  });

  it('pools both sides in the accuracy test instead of taking the baseline as exact', () => {
    // The one-sample test against a fixed 1.0 has a zero standard error: any drop would be "certain".
    const accuracy = assessLabelledQuality(packageWith({ accuracy: 1, rows: 60 }), window).metrics[0]!;
    const pooled = (60 + 960) / 1060;
    const z = (0.04 - 0.5 * (1 / 60 + 1 / 1000)) / Math.sqrt(pooled * (1 - pooled) * (1 / 60 + 1 / 1000));
    expect(accuracy.pValue).toBeCloseTo(1 - normalCdf(z), 12);
  });

  it('takes the baseline profile’s rows when the package does not record its validation rows', () => {
    const baseline = packageWith({ accuracy: 1, macroF1: 1 });
    expect(assessLabelledQuality(baseline, window).metrics.map((m) => m.baselineRows)).toEqual([4000, 4000]);
  });
});

describe('labelled regression quality', () => {
  const regression: ModelDef = { task: 'regression', features: [{ name: 'x', type: 'numeric' }], metrics: { rmse: 1, mae: Math.sqrt(2 / Math.PI), rows: 1000 } };
  const value = draws(11).normal();
  const base = baselineOf(regression, 3000, [draws(10).normal()], scoreRows(3000, 1, () => [value()]));
  const truthWithError = (sd: number, seed: number) => {
    const d = draws(seed);
    const predictions = Float64Array.from({ length: 1000 }, () => d.random.normal());
    const labels = predictions.map((p) => p + sd * d.random.normal());
    return detectDriftOnRows(base, matrix(1000, [draws(seed + 1).normal()]), 1000, { scores: { values: predictions, width: 1 }, labels }).quality!;
  };
  /** Error sums of `rows` errors drawn by `error`, with their fourth powers. */
  const errors = (rows: number, error: () => number): LabelledRows => {
    const e = Array.from({ length: rows }, error);
    return { kind: 'regression', rows, sumAbsoluteError: e.reduce((s, v) => s + Math.abs(v), 0), sumSquaredError: e.reduce((s, v) => s + v * v, 0), sumFourthPowers: e.reduce((s, v) => s + v ** 4, 0) };
  };

  it('flags a material rise of MAE and RMSE on the log scale', () => {
    expect(truthWithError(1.3, 12).metrics).toMatchObject([
      { name: 'mae', test: 'log_ratio_z', verdict: 'degraded' },
      { name: 'rmse', test: 'log_ratio_z', verdict: 'degraded' },
    ]);
  });

  it('does not flag errors as at baseline', () => {
    expect(truthWithError(1.0, 14).metrics.map((m) => m.verdict)).toEqual(['no_degradation', 'no_degradation']);
  });

  it('widens the RMSE test for heavy-tailed errors (their kurtosis from the fourth powers)', () => {
    // Laplace errors (kurtosis 6) with RMSE 1.15: a 15% rise that normal theory would call significant.
    const d = draws(15);
    const laplace = () => (1.15 / Math.SQRT2) * Math.log(d.random.next() / d.random.next());
    const heavy = errors(400, laplace) as Extract<LabelledRows, { kind: 'regression' }>;
    const { sumFourthPowers: _kept, ...normalTheory } = heavy;
    const rmse = (labels: LabelledRows) => assessLabelledQuality(base, labels).metrics.find((m) => m.name === 'rmse')!;
    expect(rmse(normalTheory).pValue).toBeLessThan(0.05);
    expect(rmse(heavy).pValue).toBeGreaterThan(rmse(normalTheory).pValue! * 2);
  });
});

describe('realizedMetrics', () => {
  it('gives accuracy and macro-F1 of a confusion matrix, MAE and RMSE of error sums', () => {
    expect(realizedMetrics({ kind: 'classification', confusion: [[40, 10], [20, 30]], rows: 100 })).toEqual({ accuracy: 0.7, macroF1: macroF1([[40, 10], [20, 30]]) });
    expect(realizedMetrics({ kind: 'regression', rows: 4, sumAbsoluteError: 6, sumSquaredError: 16 })).toEqual({ mae: 1.5, rmse: 2 });
    expect(realizedMetrics({ kind: 'regression', rows: 0, sumAbsoluteError: 0, sumSquaredError: 0 })).toEqual({});
  });
});

describe('macroF1', () => {
  it('averages per-class F1 as core/model/metrics.ts does', () => {
    expect(macroF1([[40, 10], [20, 30]])).toBeCloseTo((80 / 110 + 60 / 90) / 2, 12);
  });
});

describe('the labelled quality tests together', () => {
  it('hold the false-alarm rate at alpha on labelled windows as accurate as the baseline', () => {
    // 400 windows of 200 labelled rows at the baseline's accuracy (0.85): accuracy and macro-F1 both
    // tested, materiality gates off so that only the significance tests decide.
    const quality = { minAccuracyDrop: 0, minF1Drop: 0 };
    let alarms = 0;
    for (let seed = 0; seed < 400; seed++) {
      const report = detectDriftOnRows(baseline, matrix(200, [draws(2).normal()]), 200, { scores: scoresWith(200, () => 0.85), labels: labelsWith(200, 0.85, 100 + seed) }, { quality });
      if (report.quality!.alarm) alarms++;
    }

    // At most 5% plus two standard errors of 400 draws (1.1 points).
    expect(alarms / 400).toBeLessThanOrEqual(0.072);
  });
});

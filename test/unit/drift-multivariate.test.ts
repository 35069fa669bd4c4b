import { describe, expect, it } from 'vitest';
import { BaselineSchema } from '../../core/drift/baseline';
import { detectDrift, detectDriftOnRows } from '../../core/drift/detect';
import { symmetricEigen } from '../../core/drift/multivariate';
import { DriftReportSchema } from '../../core/drift/report';
import { DriftWindow } from '../../core/drift/window';
import { Random } from '../../core/random';
import { baselineOf, type ModelDef } from '../fixtures/drift/builders';

/**
 * The multivariate test (PCA reconstruction error, core/drift/multivariate.ts). Four normal features:
 * a and b correlated +0.8, c and d independent. The drifted window flips the correlation of a and b to
 * −0.8: each marginal is still N(0, 1), so no per-feature test can see it, while rows now lie off the
 * baseline's first principal component (a + b)/√2 and reconstruct badly.
 */

const model: ModelDef = { task: 'regression', features: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'numeric' as const })) };

function rows(n: number, seed: number, rho: number): Float32Array {
  const random = new Random(seed);
  const x = new Float32Array(n * 4);
  for (let r = 0; r < n; r++) {
    const a = random.normal();
    x[r * 4] = a;
    x[r * 4 + 1] = rho * a + Math.sqrt(1 - rho * rho) * random.normal();
    x[r * 4 + 2] = random.normal();
    x[r * 4 + 3] = random.normal();
  }
  return x;
}

function baseline(seed = 1) {
  const x = rows(5000, seed, 0.8);
  return baselineOf(model, 5000, [0, 1, 2, 3].map((c) => (r: number) => x[r * 4 + c]!));
}

describe('PCA reconstruction drift', () => {
  it('eigen-decomposes a symmetric matrix (Jacobi) as numpy.linalg.eigh', () => {
    const { values, vectors } = symmetricEigen([
      [2, 1, 0],
      [1, 2, 0],
      [0, 0, 1],
    ]);
    // numpy.linalg.eigh: eigenvalues 1, 1, 3; the largest's vector ±(1, 1, 0)/√2.
    expect(values[0]).toBeCloseTo(3, 12);
    expect(values.slice(1).sort()).toEqual([expect.closeTo(1, 12), expect.closeTo(1, 12)]);
    expect(Math.abs(vectors[0]![0]!)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(Math.abs(vectors[0]![1]!)).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('stores mean, scale and components in the baseline, which round-trips its schema', () => {
    const b = baseline();
    const mv = b.multivariate!;
    expect(mv.features).toEqual(['a', 'b', 'c', 'd']);
    // Correlation eigenvalues 1.8, 1, 1, 0.2 (of 4): one explains 45%, two 70% ≥ 65%, so two are kept.
    expect(mv.components.length).toBe(2);
    expect(mv.varianceExplained).toBeGreaterThan(0.65);
    expect(Math.abs(mv.components[0]![0]!)).toBeCloseTo(Math.SQRT1_2, 1);
    expect(mv.referenceError.rows).toBeGreaterThan(2000);
    expect(BaselineSchema.parse(JSON.parse(JSON.stringify(b)))).toEqual(b);
  });

  it('catches a flipped correlation that the per-feature tests do not see', () => {
    const b = baseline();
    const report = detectDriftOnRows(b, rows(1000, 77, -0.8), 1000);
    expect(DriftReportSchema.parse(report)).toBeTruthy();
    expect(report.features.map((f) => f.verdict)).toEqual(['no_drift', 'no_drift', 'no_drift', 'no_drift']);
    expect(report.dataset.alert).toBe(false);
    expect(report.multivariate).toMatchObject({ method: 'pca_reconstruction', verdict: 'drift', rows: 1000 });
    expect(report.multivariate!.probabilityHigher!).toBeGreaterThan(report.multivariate!.threshold!);
    expect(report.multivariate!.currentError!).toBeGreaterThan(report.multivariate!.baselineError);
    expect(report.multivariate!.pValue!).toBeLessThan(1e-6);
  });

  it('rejects at most 5 of 100 no-drift windows over fresh baselines (α = 1%), and works from a DriftWindow', () => {
    // A fresh baseline per window: the test's error rate is over both samples (against one fixed draw it is conditional on that draw).
    let rejections = 0;
    for (let i = 0; i < 100; i++) {
      const b = baseline(3 + i);
      const window = new DriftWindow(b);
      window.addRows(rows(500, 1000 + i, 0.8), 500);
      const mv = detectDrift(b, window).multivariate!;
      expect(mv.verdict).not.toBe('insufficient_data');
      if (mv.verdict === 'drift') rejections++;
    }
    expect(rejections).toBeLessThanOrEqual(5);
  });

  it('keeps every reference error, sorted, for the rank test', () => {
    const { sorted, rows: n } = baseline().multivariate!.referenceError;
    expect(sorted).toHaveLength(n);
    expect(sorted.every((e, i) => i === 0 || sorted[i - 1]! <= e)).toBe(true);
  });

  it('measures the chance a window error exceeds a baseline error near 0.5 on no-drift rows', () => {
    const mv = detectDriftOnRows(baseline(), rows(2000, 41, 0.8), 2000).multivariate!;
    expect(mv.probabilityHigher!).toBeGreaterThan(0.45);
    expect(mv.probabilityHigher!).toBeLessThan(0.55);
    expect(mv.threshold!).toBeGreaterThan(0.5);
  });

  it('is null for a baseline without a PCA profile (older baselines)', () => {
    const b = baseline();
    const { multivariate: _, ...old } = b;
    const parsed = BaselineSchema.parse(JSON.parse(JSON.stringify(old)));
    expect(parsed.multivariate).toBeUndefined();
    expect(detectDriftOnRows(parsed, rows(200, 5, 0.8), 200).multivariate).toBeNull();
  });
});

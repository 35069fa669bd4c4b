import { describe, expect, it } from 'vitest';
import { detectDrift, detectDriftOnRows } from '../../core/drift/detect';
import { DriftReportSchema, type FeatureDrift } from '../../core/drift/report';
import { benjaminiHochberg } from '../../core/drift/stats';
import { DriftWindow } from '../../core/drift/window';
import { baselineOf, draws, matrix, type ModelDef, scoreRows } from '../fixtures/drift/builders';

const mixed: ModelDef = {
  task: 'binary',
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'plan', type: 'categorical', levels: ['basic', 'plus', 'pro', 'team'] },
    { name: 'coupon', type: 'categorical', levels: ['no', 'yes'] },
    { name: 'is_member', type: 'numeric' },
  ],
};
const PLAN = [0.4, 0.3, 0.2, 0.1];

/** Rows of the mixed model: age ~ N(40 + shift·10, 10), plan shares, coupon P(yes), member flag P(1). */
function mixedColumns(seed: number, o: { ageShift?: number; plan?: number[]; coupon?: number; member?: number; ageMissing?: number } = {}) {
  const d = draws(seed);
  const age = d.normal(40 + 10 * (o.ageShift ?? 0), 10);
  return [
    () => (d.random.next() < (o.ageMissing ?? 0) ? Number.NaN : age()),
    d.choice(o.plan ?? PLAN),
    () => (d.random.next() < (o.coupon ?? 0.3) ? 1 : 0),
    () => (d.random.next() < (o.member ?? 0.25) ? 1 : 0),
  ];
}

const mixedBaseline = baselineOf(mixed, 5000, mixedColumns(1));

function report(rows: number, columns: ReturnType<typeof mixedColumns>, options = {}) {
  return detectDriftOnRows(mixedBaseline, matrix(rows, columns), rows, {}, options);
}

const feature = (r: { features: FeatureDrift[] }, name: string) => r.features.find((f) => f.name === name)!;

describe('minimum sample size', () => {
  it('gives insufficient_data for the dataset and every feature below 30 rows, with no p-value', () => {
    const r = report(29, mixedColumns(2, { ageShift: 3 }));
    expect(r.dataset.verdict).toBe('insufficient_data');
    expect(r.dataset.alert).toBe(false);
    expect(r.dataset.testedFeatures).toBe(0);
    for (const f of r.features) {
      expect(f.verdict).toBe('insufficient_data');
      expect(f.pValue).toBeNull();
      expect(f.effect).toBeNull();
      expect(f.missing).toMatchObject({ verdict: 'insufficient_data', pValue: null });
    }
    expect(r.multipleTesting.tests).toBe(0);
  });

  it('tests every feature at exactly 30 rows', () => {
    const r = report(30, mixedColumns(3, { ageShift: 3 }));
    expect(r.dataset.verdict).toBe('drift');
    expect(r.features.every((f) => f.verdict !== 'insufficient_data')).toBe(true);
  });

  it('holds back the distribution test of a feature with too few non-missing values, and tests its missing rate', () => {
    const r = report(1000, mixedColumns(4, { ageMissing: 0.98 }));
    const age = feature(r, 'age');
    expect(age.verdict).toBe('insufficient_data');
    expect(age.missingRate.current).toBeCloseTo(0.98, 1);
    expect(age.missing).toMatchObject({ baselineRate: 0, verdict: 'drift' });
    expect(r.dataset.insufficientFeatures).toEqual(['age']);
    expect(r.dataset.testedFeatures).toBe(3);
    expect(r.dataset).toMatchObject({ verdict: 'drift', alert: true, driftedFeatures: [] });
  });

  it('follows a configured minimum', () => {
    const r = report(150, mixedColumns(5), { minSampleSize: 200 });
    expect(r.dataset.verdict).toBe('insufficient_data');
  });
});

describe('numeric features: KS and the effect-size gate', () => {
  const model: ModelDef = { task: 'binary', features: [{ name: 'x', type: 'numeric' }] };
  const big = baselineOf(model, 40_000, [draws(10).normal()], undefined, { sampleSize: 40_000 });
  const immaterial = () => {
    const window = new DriftWindow(big, { sampleSize: 40_000 });
    window.addRows(matrix(40_000, [draws(11).normal(0.05)]), 40_000);
    return window;
  };

  it('holds back a 0.05σ shift that KS finds highly significant on 40,000 rows', () => {
    const x = detectDrift(big, immaterial()).features[0]!;
    expect(x.adjustedPValue).toBeLessThan(1e-6);
    expect(x.effects.every((e) => e.value < e.threshold)).toBe(true);
    expect(x.verdict).toBe('no_drift');
  });

  it('reports the same shift as drift once the gate is lowered below its effect size', () => {
    const x = detectDrift(big, immaterial(), { wassersteinStdThreshold: 0.02 }).features[0]!;
    // 0.02 combined in quadrature with the distance's null mean between two samples of 40,000
    // (√(2/π) · 1.62 · √(2/40,000) ≈ 0.009): ≈ 0.022.
    expect(x.effect?.name).toBe('wasserstein_std');
    expect(x.effect!.threshold).toBeCloseTo(0.022, 3);
    expect(x.verdict).toBe('drift');
  });

  it('reports a material shift (0.5σ) as drift with KS, PSI and W/σ', () => {
    const r = report(1000, mixedColumns(12, { ageShift: 0.5 }));
    const age = feature(r, 'age');
    expect(age).toMatchObject({ kind: 'numeric', test: 'anderson_darling', verdict: 'drift' });
    expect(age.effects.map((e) => e.name)).toEqual(['psi', 'wasserstein_std']);
    expect(age.effects[1]!.value).toBeGreaterThan(0.35);
    expect(r.dataset.driftedFeatures).toEqual(['age']);
  });

  it('plots current shares on the baseline bins', () => {
    const age = feature(report(1000, mixedColumns(13)), 'age');
    expect(age.histogram.type).toBe('bins');
    if (age.histogram.type !== 'bins') return;
    expect(age.histogram.current).toHaveLength(age.histogram.edges.length + 1);
    expect(age.histogram.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(age.histogram.range[0]).toBeLessThan(age.histogram.edges[0]!);
  });
});

describe('categorical and binary features', () => {
  it('detects a 10-point share change by chi-square with the L∞ gate', () => {
    const plan = feature(report(1000, mixedColumns(20, { plan: [0.3, 0.4, 0.2, 0.1] })), 'plan');
    expect(plan).toMatchObject({ kind: 'categorical', test: 'chi_square', dof: 3, verdict: 'drift' });
    expect(plan.effect?.name).toBe('linf');
    expect(plan.effect!.value).toBeGreaterThan(0.05);
  });

  it('holds back a 1-point share change that chi-square finds significant on 200,000 rows', () => {
    const model: ModelDef = { task: 'binary', features: [{ name: 'c', type: 'categorical', levels: ['a', 'b', 'c'] }] };
    const base = baselineOf(model, 200_000, [draws(21).choice([0.5, 0.3, 0.2])]);
    const c = detectDriftOnRows(base, matrix(200_000, [draws(22).choice([0.51, 0.29, 0.2])]), 200_000).features[0]!;
    expect(c.adjustedPValue).toBeLessThan(0.05);
    expect(c.verdict).toBe('no_drift');
  });

  it('uses the two-proportion z-test for a two-level categorical', () => {
    const coupon = feature(report(1000, mixedColumns(23, { coupon: 0.45 })), 'coupon');
    expect(coupon).toMatchObject({ kind: 'binary', test: 'two_proportion_z', verdict: 'drift' });
  });

  it('treats a numeric column with two values in the baseline as binary', () => {
    const member = feature(report(1000, mixedColumns(24, { member: 0.4 })), 'is_member');
    expect(member).toMatchObject({ kind: 'binary', test: 'two_proportion_z', verdict: 'drift' });
    expect(member.histogram).toMatchObject({ type: 'levels', labels: ['0', '1'] });
  });

  it('reports the unseen-level share, and tests unseen codes as their own bucket', () => {
    const d = draws(25);
    const columns = mixedColumns(25);
    columns[1] = () => (d.random.next() < 0.2 ? 7 : d.random.choice(PLAN));
    const plan = feature(report(1000, columns), 'plan');
    expect(plan.unseenShare!.baseline).toBe(0);
    expect(plan.unseenShare!.current).toBeCloseTo(0.2, 1);
    expect(plan.histogram).toMatchObject({ type: 'levels', labels: ['basic', 'plus', 'pro', 'team', '(unseen)'] });
    expect(plan.verdict).toBe('drift');
  });

  it('reports a small unseen share without calling it drift', () => {
    const d = draws(26);
    const columns = mixedColumns(26);
    columns[1] = () => (d.random.next() < 0.003 ? -1 : d.random.choice(PLAN));
    const r = report(1000, columns);
    expect(feature(r, 'plan').unseenShare!.current).toBeGreaterThan(0);
    expect(feature(r, 'plan').verdict).toBe('no_drift');
  });
});

describe('multiple-testing correction', () => {
  // Eight features each shifted 0.2σ on 300 rows: individually borderline after Bonferroni (×8).
  const model: ModelDef = { task: 'binary', features: Array.from({ length: 8 }, (_, i) => ({ name: `x${i}`, type: 'numeric' as const })) };
  const base = baselineOf(model, 5000, Array.from({ length: 8 }, (_, i) => draws(30 + i).normal()));
  const x = matrix(300, Array.from({ length: 8 }, (_, i) => draws(40 + i).normal(0.2)));
  const bonferroni = detectDriftOnRows(base, x, 300);
  const bh = detectDriftOnRows(base, x, 300, {}, { correction: 'benjamini-hochberg' });

  it('Bonferroni multiplies each p-value by the number of tests', () => {
    for (const f of bonferroni.features) expect(f.adjustedPValue).toBeCloseTo(Math.min(1, f.pValue! * 8), 12);
    expect(bonferroni.multipleTesting).toEqual({ correction: 'bonferroni', alpha: 0.04, tests: 8 });
  });

  it('Benjamini–Hochberg adjusts by rank and flags more of many moderate shifts', () => {
    const expected = benjaminiHochberg(bh.features.map((f) => f.pValue!));
    bh.features.forEach((f, i) => expect(f.adjustedPValue).toBeCloseTo(expected[i]!, 12));
    expect(bh.dataset.driftedFeatures.length).toBeGreaterThan(bonferroni.dataset.driftedFeatures.length);
  });

  it('without correction flags at least as many', () => {
    const none = detectDriftOnRows(base, x, 300, {}, { correction: 'none' });
    expect(none.dataset.driftedFeatures.length).toBeGreaterThanOrEqual(bh.dataset.driftedFeatures.length);
  });
});

describe('prediction drift', () => {
  const regression: ModelDef = { task: 'regression', features: [{ name: 'x', type: 'numeric' }], metrics: { rmse: 1, rows: 1000 } };
  const xs = draws(50).normal();
  const values = draws(51).normal();
  const base = baselineOf(regression, 5000, [xs], scoreRows(5000, 1, () => [values()]));
  const predict = (shift: number, seed: number) => {
    const v = draws(seed).normal(shift);
    return detectDriftOnRows(base, matrix(2000, [draws(seed + 1).normal()]), 2000, { scores: scoreRows(2000, 1, () => [v()]) });
  };

  it('is quiet when the prediction distribution is unchanged', () => {
    const r = predict(0, 52);
    expect(r.prediction).toMatchObject({ kind: 'regression', verdict: 'no_drift', score: { status: 'ok' } });
  });

  it('warns when the score PSI reaches 0.1 but stays under 0.25, without raising the alarm', () => {
    const r = predict(0.45, 54);
    expect(r.prediction!.score.psi).toBeGreaterThanOrEqual(0.1);
    expect(r.prediction!.score.psi).toBeLessThan(0.25);
    expect(r.prediction).toMatchObject({ verdict: 'warn', score: { status: 'warn' } });
    expect(r.dataset.alert).toBe(false);
    expect(r.dataset.warnings.join()).toMatch(/PSI/);
  });

  it('alerts when the score PSI reaches 0.25, and raises the dataset alarm', () => {
    const r = predict(0.9, 56);
    expect(r.prediction!.score.psi).toBeGreaterThanOrEqual(0.25);
    expect(r.prediction).toMatchObject({ verdict: 'drift', score: { status: 'alert' } });
    expect(r.dataset).toMatchObject({ alert: true, predictionDrift: true, driftedFeatures: [] });
  });

  it('tests a binary model’s positive-prediction rate (0.20 → 0.35) with the two-proportion z-test', () => {
    const binary: ModelDef = { task: 'binary', features: [{ name: 'x', type: 'numeric' }] };
    const positive = (rate: number, seed: number) => {
      const d = draws(seed);
      return (): number[] => {
        const p = d.random.next() < rate ? 0.5 + 0.5 * d.random.next() : 0.5 * d.random.next();
        return [1 - p, p];
      };
    };
    const b = baselineOf(binary, 5000, [draws(60).normal()], scoreRows(5000, 2, positive(0.2, 61)));
    const r = detectDriftOnRows(b, matrix(1000, [draws(62).normal()]), 1000, { scores: scoreRows(1000, 2, positive(0.35, 63)) });
    const shares = r.prediction!.classShares!;
    expect(shares).toMatchObject({ test: 'two_proportion_z', verdict: 'drift', effect: { name: 'positive_rate_change' } });
    // 0.05 combined in quadrature with the rate change's null mean at 1,000 vs 5,000 rows
    // (pooled rate 0.225: √(2/π · 0.225 · 0.775 · 0.0012) ≈ 0.012): ≈ 0.051.
    expect(shares.effect!.threshold).toBeCloseTo(0.051, 3);
    expect(shares.positiveRate!.baseline).toBeCloseTo(0.2, 1);
    expect(shares.positiveRate!.current).toBeCloseTo(0.35, 1);
    expect(r.dataset.alert).toBe(true);
  });

  it('tests multiclass predicted shares by chi-square with the L∞ ≥ 0.1 gate', () => {
    const multi: ModelDef = { task: 'multiclass', features: [{ name: 'x', type: 'numeric' }], classes: ['a', 'b', 'c'] };
    const top = (shares: number[], seed: number) => {
      const d = draws(seed);
      return (): number[] => {
        const k = d.random.choice(shares);
        return [0, 1, 2].map((j) => (j === k ? 0.8 : 0.1));
      };
    };
    const b = baselineOf(multi, 5000, [draws(70).normal()], scoreRows(5000, 3, top([0.5, 0.3, 0.2], 71)));
    const moved = detectDriftOnRows(b, matrix(1000, [draws(72).normal()]), 1000, { scores: scoreRows(1000, 3, top([0.35, 0.45, 0.2], 73)) });
    expect(moved.prediction!.classShares).toMatchObject({ test: 'chi_square', dof: 2, verdict: 'drift', effect: { name: 'linf' } });
    // 0.1 combined in quadrature with the null mean of the change of the share nearest ½ (0.475
    // pooled: ≈ 0.014) at 1,000 vs 5,000 rows: ≈ 0.101.
    expect(moved.prediction!.classShares!.effect!.threshold).toBeCloseTo(0.101, 3);
    const same = detectDriftOnRows(b, matrix(1000, [draws(74).normal()]), 1000, { scores: scoreRows(1000, 3, top([0.5, 0.3, 0.2], 75)) });
    expect(same.prediction!.classShares!.verdict).toBe('no_drift');
  });
});

describe('dataset verdict and report', () => {
  it('reports no drift, an empty list and a zero share when nothing moved', () => {
    const r = report(1000, mixedColumns(80));
    expect(r.dataset).toMatchObject({ verdict: 'no_drift', alert: false, driftedFeatures: [], driftedShare: 0, testedFeatures: 4 });
  });

  it('reports the share of drifted features', () => {
    const r = report(1000, mixedColumns(81, { ageShift: 1, coupon: 0.6 }));
    expect(r.dataset.driftedFeatures).toEqual(['age', 'coupon']);
    expect(r.dataset.driftedShare).toBe(0.5);
  });

  it('is a JSON-serializable object that the schema accepts, and deterministic', () => {
    const r = report(1000, mixedColumns(82, { ageShift: 0.3 }));
    expect(DriftReportSchema.parse(JSON.parse(JSON.stringify(r)))).toEqual(r);
    expect(report(1000, mixedColumns(82, { ageShift: 0.3 }))).toEqual(r);
  });

  it('rejects inconsistent settings with the value received', () => {
    expect(() => report(300, mixedColumns(83), { scorePsiWarn: 0.3, scorePsiAlert: 0.2 })).toThrow(/0\.3.*0\.2/);
    expect(() => report(300, mixedColumns(83), { alpha: 1.5 })).toThrow(/1\.5/);
  });
});

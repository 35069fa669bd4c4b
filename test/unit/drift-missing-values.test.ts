import { describe, expect, it } from 'vitest';
import { BaselineSchema } from '../../core/drift/baseline';
import { detectDriftOnRows } from '../../core/drift/detect';
import type { FeatureDrift } from '../../core/drift/report';
import { verdictOf } from '../../core/drift/verdict';
import { baselineOf, draws, matrix, type ModelDef } from '../fixtures/drift/builders';

/** Missing values are data: each feature's missing rate is tested, and no row is dropped for one. */

const model: ModelDef = {
  task: 'binary',
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'income', type: 'numeric' },
    { name: 'plan', type: 'categorical', levels: ['basic', 'plus', 'pro'] },
    { name: 'is_member', type: 'numeric' },
  ],
};

/** age ~ N(40, 10), income ~ N(50, 8) with 2% missing, plan shares, a 0/1 flag; `missing` overrides a feature's missing rate. */
function columns(seed: number, missing: Partial<Record<'age' | 'income' | 'plan' | 'is_member', number>> = {}) {
  const d = draws(seed);
  const gap = (rate: number, draw: () => number) => () => (d.random.next() < rate ? Number.NaN : draw());
  return [
    gap(missing.age ?? 0, d.normal(40, 10)),
    gap(missing.income ?? 0.02, d.normal(50, 8)),
    gap(missing.plan ?? 0, d.choice([0.5, 0.3, 0.2])),
    gap(missing.is_member ?? 0, () => (d.random.next() < 0.25 ? 1 : 0)),
  ];
}

const baseline = baselineOf(model, 5000, columns(1));
const report = (rows: number, cols: ReturnType<typeof columns>) => detectDriftOnRows(baseline, matrix(rows, cols), rows);
const feature = (r: { features: FeatureDrift[] }, name: string) => r.features.find((f) => f.name === name)!;

describe('a surge of missing values in one feature', () => {
  const rows = 300;
  const r = report(rows, columns(2, { age: 0.3 }));

  it('is drift of that feature’s missing rate, named in the verdict, and of no other feature', () => {
    expect(feature(r, 'age').missing).toMatchObject({ verdict: 'drift', baselineRate: 0 });
    for (const name of ['income', 'plan', 'is_member']) expect(feature(r, name).missing?.verdict).toBe('no_drift');
    expect(r.features.every((f) => f.verdict === 'no_drift')).toBe(true);
    expect(r.dataset).toMatchObject({ verdict: 'drift', alert: true, driftedFeatures: [] });
    expect(verdictOf(r).reasons).toEqual([{ kind: 'missing', text: expect.stringMatching(/^missing values rose in age \(0\.000 → 0\.[23]\d\d\)$/) }]);
  });

  it('reports the real rates', () => {
    const age = feature(r, 'age');
    expect(age.missingRate.baseline).toBe(0);
    expect(age.missingRate.current).toBeCloseTo(0.3, 1);
    expect(age.missing!.currentRate).toBe(age.missingRate.current);
    expect(feature(r, 'income').missingRate.baseline).toBeCloseTo(0.02, 2);
  });

  it('leaves every row in the other features’ tests', () => {
    const age = feature(r, 'age');
    expect(age.counts.current).toBe(rows - Math.round(age.missingRate.current! * rows));
    for (const name of ['plan', 'is_member']) expect(feature(r, name).counts.current).toBe(rows);
    const income = feature(r, 'income');
    expect(income.counts.current + Math.round(income.missingRate.current! * rows)).toBe(rows);
  });
});

describe('the missing-rate test', () => {
  it('finds no drift when missing values stay at the baseline rate', () => {
    const r = report(1000, columns(3));
    expect(feature(r, 'income').missing).toMatchObject({ test: 'two_proportion_z', verdict: 'no_drift' });
    expect(feature(r, 'income').missing!.pValue).toBeGreaterThan(0.01);
    expect(r.dataset).toMatchObject({ verdict: 'no_drift', alert: false });
  });

  it('decides a surge in a 30-row window with Fisher’s exact test', () => {
    const age = feature(report(30, columns(4, { age: 0.3 })), 'age');
    expect(age.missing).toMatchObject({ test: 'fisher_exact', verdict: 'drift' });
  });

  it('holds back a rise smaller than the 5-point gate, however significant', () => {
    const age = feature(report(20_000, columns(5, { age: 0.02 })), 'age');
    expect(age.missing!.adjustedPValue).toBeLessThan(1e-6);
    expect(age.missing).toMatchObject({ threshold: 0.05, verdict: 'no_drift' });
  });

  it('is one-sided: a fall of the missing rate is no drift', () => {
    const income = feature(report(1000, columns(6, { income: 0 })), 'income');
    expect(income.missing!.pValue).toBeGreaterThan(0.99);
    expect(income.missing!.verdict).toBe('no_drift');
  });

  it('joins the multiple-testing family, except for features with no missing value on either side', () => {
    const r = report(1000, columns(7, { age: 0.01 }));
    // 4 distribution tests + the missing rates of age and income; plan and is_member have none anywhere.
    expect(r.multipleTesting.tests).toBe(6);
    expect(feature(r, 'plan').missing).toMatchObject({ test: 'none', pValue: null, verdict: 'no_drift' });
    const age = feature(r, 'age').missing!;
    expect(age.adjustedPValue).toBeCloseTo(Math.min(1, age.pValue! * 6), 12);
  });
});

describe('baseline missing counts', () => {
  it('reads a baseline written before missing counts were kept as having none', () => {
    const old = JSON.parse(JSON.stringify(baseline)) as { features: { missing?: number }[] };
    for (const f of old.features) delete f.missing;
    const parsed = BaselineSchema.parse(old);
    expect(parsed.features.map((f) => f.missing)).toEqual([0, 0, 0, 0]);
    const age = feature(detectDriftOnRows(parsed, matrix(300, columns(8, { age: 0.3 })), 300), 'age');
    expect(age.missing).toMatchObject({ baselineRate: 0, verdict: 'drift' });
  });

  it('counts NaN and ±Infinity as missing, as the window does', () => {
    const values = [1, Number.NaN, Infinity, -Infinity, 2];
    const profile = baselineOf({ task: 'binary', features: [{ name: 'x', type: 'numeric' }] }, values.length, [(r) => values[r]!]).features[0]!;
    expect([profile.count, profile.missing]).toEqual([2, 3]);
  });
});

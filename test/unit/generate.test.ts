import { describe, expect, it } from 'vitest';
import { generatedHeader, generateRows, parseDriftSpec } from '../../model-pipeline/data/generate';

function column(rows: { cells: readonly string[] }[], name: string): string[] {
  const index = generatedHeader().indexOf(name);
  return rows.map((r) => r.cells[index]!);
}
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const rows = (n: number, drift = {}, seed = 5) => [...generateRows({ rows: n, seed, drift })];

describe('generateRows', () => {
  it('is reproducible from the seed', () => {
    expect(rows(50)).toEqual(rows(50));
    expect(rows(50, {}, 6)).not.toEqual(rows(50));
  });

  it('shifts a numeric feature by the requested number of standard deviations', () => {
    const base = mean(column(rows(20_000), 'monthly_spend').map(Number));
    const shifted = mean(column(rows(20_000, { meanShift: { monthly_spend: 0.5 } }), 'monthly_spend').map(Number));
    // monthly_spend = 62 + 24·z, so 0.5σ is 12.
    expect(shifted - base).toBeCloseTo(12, 0);
  });

  it('raises the share of a category level by the requested amount', () => {
    const share = (data: ReturnType<typeof rows>) => column(data, 'plan').filter((v) => v === 'pro').length / data.length;
    expect(share(rows(20_000, { categoryShift: { plan: { level: 'pro', delta: 0.1 } } })) - share(rows(20_000))).toBeCloseTo(0.1, 1);
  });

  it('blanks the requested share of values', () => {
    const ages = column(rows(20_000, { missing: { age: 0.2 } }), 'age');
    expect(ages.filter((v) => v === '').length / ages.length).toBeCloseTo(0.2, 1);
  });

  it('raises the positive rate with a label shift', () => {
    const positive = (data: ReturnType<typeof rows>) => column(data, 'churned').filter((v) => v === 'yes').length / data.length;
    expect(positive(rows(20_000, { labelShift: 1 }))).toBeGreaterThan(positive(rows(20_000)) + 0.1);
  });

  it('draws labels from the true probabilities it reports', () => {
    const data = rows(20_000);
    const observed = column(data, 'churned').filter((v) => v === 'yes').length / data.length;
    expect(observed).toBeCloseTo(mean(data.map((r) => r.trueProbabilities[1]!)), 1);
  });
});

describe('parseDriftSpec', () => {
  it('parses every kind of knob', () => {
    expect(parseDriftSpec(['mean:age=0.5,scale:income=2', 'category:plan=pro+0.1', 'missing:age=0.1', 'concept=0.5', 'label-shift=-0.3'])).toEqual({
      meanShift: { age: 0.5 },
      scale: { income: 2 },
      categoryShift: { plan: { level: 'pro', delta: 0.1 } },
      missing: { age: 0.1 },
      concept: 0.5,
      labelShift: -0.3,
    });
  });

  it('names an unknown feature and lists the known ones', () => {
    expect(() => parseDriftSpec(['mean:height=1'])).toThrow(/unknown feature "height"; expected one of age, income/);
  });

  it('rejects an unknown level of a categorical feature', () => {
    expect(() => parseDriftSpec(['category:plan=gold+0.1'])).toThrow(/"plan" has no level "gold"/);
  });

  it('rejects a term it cannot read', () => {
    expect(() => parseDriftSpec(['mean:age'])).toThrow(/expected kind:feature=value/);
  });
});

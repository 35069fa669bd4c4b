import { describe, expect, it } from 'vitest';
import { BaselineBuilder, BaselineSchema, binIndex, NumericAccumulator, quantileSorted } from '../../core/drift/baseline';

describe('binIndex', () => {
  it('counts the edges at or below the value', () => {
    const edges = [1, 2, 3];
    expect([0.5, 1, 1.5, 3, 9].map((v) => binIndex(edges, v))).toEqual([0, 1, 1, 3, 3]);
  });
});

describe('quantileSorted', () => {
  it('interpolates linearly like numpy', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.1)).toBeCloseTo(1.3, 12);
  });
});

describe('NumericAccumulator', () => {
  it('profiles moments, missing values and decile bins of equal share', () => {
    const accumulator = new NumericAccumulator('x');
    for (let i = 0; i < 1000; i++) accumulator.add(i);
    accumulator.add(Number.NaN);
    const profile = accumulator.finish();
    expect(profile).toMatchObject({ count: 1000, missing: 1, min: 0, max: 999 });
    expect(profile.mean).toBeCloseTo(499.5, 9);
    expect(profile.binEdges).toHaveLength(9);
    profile.binShares.forEach((share) => expect(share).toBeCloseTo(0.1, 2));
  });

  it('merges repeated edges of a column with few distinct values', () => {
    const accumulator = new NumericAccumulator('x');
    for (let i = 0; i < 1000; i++) accumulator.add(i % 3 === 0 ? 0 : 1);
    const profile = accumulator.finish();
    expect(new Set(profile.binEdges).size).toBe(profile.binEdges.length);
    expect(profile.binShares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('keeps a bounded uniform sample of a long stream', () => {
    const accumulator = new NumericAccumulator('x', { sampleSize: 500 });
    for (let i = 0; i < 100_000; i++) accumulator.add(i);
    const { sample } = accumulator.finish();
    expect(sample).toHaveLength(500);
    expect(sample.reduce((a, b) => a + b, 0) / 500).toBeGreaterThan(40_000);
    expect(sample.reduce((a, b) => a + b, 0) / 500).toBeLessThan(60_000);
  });
});

describe('BaselineBuilder', () => {
  const manifest = {
    task: 'binary' as const,
    input: {
      tensor: 'x',
      features: [
        { name: 'age', type: 'numeric' as const, nullable: false },
        { name: 'plan', type: 'categorical' as const, levels: ['basic', 'pro'], nullable: true },
      ],
    },
    output: { tensor: 'p', kind: 'probabilities' as const, classes: ['no', 'yes'] },
    metrics: { accuracy: 0.9 },
  };

  it('profiles categorical shares, missing values and predicted class shares', () => {
    const builder = new BaselineBuilder(manifest);
    const x = Float32Array.from([30, 0, 40, 1, 50, 1, 60, Number.NaN]);
    builder.addRows(x, 4, { values: [0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4], width: 2 });
    const baseline = BaselineSchema.parse(builder.finish(new Date('2026-01-01T00:00:00Z')));
    expect(baseline.rows).toBe(4);
    expect(baseline.features[1]).toMatchObject({ kind: 'categorical', levels: ['basic', 'pro'], missing: 1, unseenShare: 0 });
    expect((baseline.features[1] as { shares: number[] }).shares).toEqual([1 / 3, 2 / 3]);
    expect(baseline.prediction).toMatchObject({ kind: 'classification', classShares: [0.5, 0.5] });
    expect(baseline.metrics).toEqual({ accuracy: 0.9 });
  });

  it('records the mean top-class probability as the model’s own expected accuracy', () => {
    const builder = new BaselineBuilder(manifest);
    builder.addRows(Float32Array.from([30, 0, 40, 1, 50, 1, 60, 0]), 4, { values: [0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4], width: 2 });
    const prediction = builder.finish().prediction;
    expect(prediction?.kind === 'classification' && prediction.expectedAccuracy).toBeCloseTo(0.75, 12);
  });

  it('still reads baselines written before expectedAccuracy and calibration existed', () => {
    const builder = new BaselineBuilder(manifest);
    builder.addRows(Float32Array.from([30, 0, 40, 1]), 2, { values: [0.9, 0.1, 0.2, 0.8], width: 2 });
    const written = JSON.parse(JSON.stringify(builder.finish()));
    delete written.prediction.expectedAccuracy;
    expect(BaselineSchema.parse(written).prediction).toMatchObject({ kind: 'classification', classes: ['no', 'yes'] });
  });

  it('accepts a confidence calibration in the prediction profile', () => {
    const builder = new BaselineBuilder(manifest);
    builder.addRows(Float32Array.from([30, 0, 40, 1]), 2, { values: [0.9, 0.1, 0.2, 0.8], width: 2 });
    const baseline = builder.finish();
    const calibration = { x: [0.6, 0.9], y: [0.55, 0.8], expectedAccuracy: 0.7, rows: 500 };
    const parsed = BaselineSchema.parse({ ...baseline, prediction: { ...baseline.prediction, calibration } });
    expect(parsed.prediction).toMatchObject({ calibration });
  });
});

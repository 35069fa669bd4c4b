import { describe, expect, it } from 'vitest';
import { binIndex } from '../../core/drift/baseline';
import { applyCalibration, DriftWindow, Reservoir, SeededRandom } from '../../core/drift/window';
import { baselineOf, draws, matrix, type ModelDef } from '../fixtures/drift/builders';

const model: ModelDef = {
  task: 'binary',
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'c', type: 'categorical', levels: ['a', 'b', 'c'] },
  ],
};
const baseline = baselineOf(model, 2000, [draws(1).normal(), draws(2).choice([0.5, 0.3, 0.2])]);

describe('DriftWindow', () => {
  it('counts numeric values in the baseline bins exactly, whatever the row count', () => {
    const values = Array.from({ length: 30_000 }, draws(3).normal());
    const window = new DriftWindow(baseline, { sampleSize: 500 });
    window.addRows(matrix(30_000, [(r) => values[r]!, () => 0]), 30_000);
    const column = window.columns[0]!;
    if (column.kind !== 'numeric') throw new Error('expected a numeric column');
    const expected = new Array<number>(column.binCounts.length).fill(0);
    const edges = baseline.features[0]!.kind === 'numeric' ? baseline.features[0]!.binEdges : [];
    for (const v of values) expected[binIndex(edges, Math.fround(v))]!++;
    expect(Array.from(column.binCounts)).toEqual(expected);
    expect(column.count).toBe(30_000);
    expect(column.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 4);
  });

  it('keeps a sample of at most sampleSize values however many rows arrive', () => {
    const window = new DriftWindow(baseline, { sampleSize: 1000 });
    for (let chunk = 0; chunk < 20; chunk++) window.addRows(matrix(10_000, [draws(chunk).normal(), () => 1]), 10_000);
    const column = window.columns[0]!;
    if (column.kind !== 'numeric') throw new Error('expected a numeric column');
    expect(window.rows).toBe(200_000);
    expect(column.reservoir.sample()).toHaveLength(1000);
  });

  it('keeps every value while fewer than sampleSize arrive', () => {
    const window = new DriftWindow(baseline);
    window.addRows(matrix(300, [(r) => r, () => 0]), 300);
    const column = window.columns[0]!;
    if (column.kind !== 'numeric') throw new Error('expected a numeric column');
    expect(Array.from(column.reservoir.sample())).toEqual(Array.from({ length: 300 }, (_, r) => r));
  });

  it('counts levels, unseen codes and missing values of a categorical column', () => {
    const codes = [0, 1, 2, 2, 3, -1, 1.5, Number.NaN];
    const window = new DriftWindow(baseline);
    window.addRows(matrix(codes.length, [() => 0, (r) => codes[r]!]), codes.length);
    const column = window.columns[1]!;
    if (column.kind !== 'categorical') throw new Error('expected a categorical column');
    expect(Array.from(column.counts)).toEqual([1, 1, 2, 3]);
    expect(column.missing).toBe(1);
    expect(column.count).toBe(7);
  });

  it('counts NaN and ±Infinity as missing numeric values', () => {
    const values = [1, Number.NaN, Infinity, -Infinity, 2];
    const window = new DriftWindow(baseline);
    window.addRows(matrix(values.length, [(r) => values[r]!, () => 0]), values.length);
    const column = window.columns[0]!;
    expect(column.kind === 'numeric' && [column.count, column.missing]).toEqual([2, 3]);
  });

  it('counts a missing value in its own column only, keeping the row in the others', () => {
    const xs = [1, Number.NaN, 2, Number.NaN];
    const cs = [0, 1, Number.NaN, 2];
    const window = new DriftWindow(baseline);
    window.addRows(matrix(4, [(r) => xs[r]!, (r) => cs[r]!]), 4);
    const [x, c] = window.columns;
    expect(x!.kind === 'numeric' && [x!.count, x!.missing]).toEqual([2, 2]);
    expect(c!.kind === 'categorical' && [c!.count, c!.missing]).toEqual([3, 1]);
    expect(window.rows).toBe(4);
  });

  it('gives the same sample for the same seed and rows', () => {
    const fill = (seed: number) => {
      const window = new DriftWindow(baseline, { sampleSize: 100, seed });
      window.addRows(matrix(5000, [(r) => r, () => 0]), 5000);
      const column = window.columns[0]!;
      return column.kind === 'numeric' ? Array.from(column.reservoir.sample()) : [];
    };
    expect(fill(4)).toEqual(fill(4));
    expect(fill(4)).not.toEqual(fill(5));
  });

  it('rejects a sample size that is not a positive integer', () => {
    expect(() => new DriftWindow(baseline, { sampleSize: 0 })).toThrow(/got 0/);
  });

  it('rejects a matrix shorter than rows × features', () => {
    expect(() => new DriftWindow(baseline).addRows(new Float32Array(5), 3)).toThrow(/6 values, got 5/);
  });
});

describe('Reservoir (Algorithm L)', () => {
  it('samples a long stream uniformly', () => {
    const counts = new Array<number>(10).fill(0);
    for (let trial = 0; trial < 200; trial++) {
      const reservoir = new Reservoir(50, new SeededRandom(trial + 1));
      for (let i = 0; i < 10_000; i++) reservoir.add(i);
      for (const v of reservoir.sample()) counts[Math.floor(v / 1000)]!++;
    }
    // 10,000 sampled values over ten deciles: each ≈ 1,000 (binomial sd ≈ 30).
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('applyCalibration', () => {
  it('interpolates linearly between calibration points and is flat outside', () => {
    const calibration = { x: [0.5, 0.7, 0.9], y: [0.4, 0.6, 0.7] };
    expect(applyCalibration(calibration, 0.3)).toBe(0.4);
    expect(applyCalibration(calibration, 0.6)).toBeCloseTo(0.5, 12);
    expect(applyCalibration(calibration, 0.95)).toBe(0.7);
  });
});

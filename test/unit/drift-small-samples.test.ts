import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NUMERIC_TARGETS, simulate, simulatedBaseline } from '../../bench/drift-scenarios';
import { type Baseline, BaselineBuilder, smallBaselineWarning } from '../../core/drift/baseline';
import { detectDrift, detectDriftOnRows } from '../../core/drift/detect';
import { verdictOf } from '../../core/drift/verdict';
import { DriftWindow } from '../../core/drift/window';
import { DirectoryStore } from '../../core/model/blob-store';
import { Random } from '../../core/random';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { importModel } from '../../model-pipeline/import/import-model';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { baselineOf, draws, matrix, type ModelDef } from '../fixtures/drift/builders';
import { useTempDir } from '../helpers/tmp';

/**
 * Drift decided on small samples: at least 30 rows a side, exact p-values where the asymptotics fail,
 * effect gates raised by their small-sample noise; calibrated by seeded simulation on the 21 features
 * and binary scores of bench/drift-scenarios.ts (windows of 30–100 rows, baselines of 124–5,000).
 */

const SEED = 2026;

/** One simulated window of `rows` rows against `baseline`, with the scores (no labels: data and prediction drift only). */
function windowOf(baseline: Baseline, rows: number, random: Random, shift: Parameters<typeof simulate>[2] = {}, seed = 1): DriftWindow {
  const window = new DriftWindow(baseline, { seed });
  const data = simulate(rows, random, shift);
  window.addRows(data.x, data.rows, { values: data.scores, width: 2 });
  return window;
}

describe('the sample-size floor (30 rows a side)', () => {
  const baseline = simulatedBaseline(1000, SEED);

  it('is insufficient data on a 10-row window: no test runs', () => {
    const report = detectDrift(baseline, windowOf(baseline, 10, new Random(1), { numeric: { income: 3 } }));
    expect(report.dataset).toMatchObject({ verdict: 'insufficient_data', alert: false, testedFeatures: 0 });
    expect(report.multipleTesting.tests).toBe(0);
    expect(verdictOf(report).status).toBe('insufficient_data');
  });

  it('is insufficient data against a baseline of fewer than 30 rows', () => {
    const tiny = simulatedBaseline(20, SEED);
    const report = detectDrift(tiny, windowOf(tiny, 1000, new Random(2)));
    expect(report.dataset).toMatchObject({ verdict: 'insufficient_data', testedFeatures: 0 });
  });

  it('decides every feature of a 100-row window against a 124-row baseline', () => {
    const small = simulatedBaseline(124, SEED);
    const report = detectDrift(small, windowOf(small, 100, new Random(3)));
    expect(report.dataset.verdict).not.toBe('insufficient_data');
    expect(report.dataset.testedFeatures).toBe(report.features.length);
  });
});

describe('small-sample tests and gates', () => {
  it('merges sparse levels until every expected count of a 30-row window reaches 5 before chi-square', () => {
    const model: ModelDef = { task: 'binary', features: [{ name: 'country', type: 'categorical', levels: 'abcdefghij'.split('') }] };
    const shares = [0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01];
    const base = baselineOf(model, 5000, [draws(10).choice(shares)]);
    const country = detectDriftOnRows(base, matrix(30, [draws(11).choice(shares)]), 30).features[0]!;
    // 30 rows hold 6 buckets of at least 5 expected values at most: dof ≤ 5.
    expect(country.test).toBe('chi_square');
    expect(country.dof).toBeLessThanOrEqual(5);
  });

  it('raises a gate more on a small window than on a large one', () => {
    const baseline = simulatedBaseline(5000, SEED);
    const threshold = (rows: number) => detectDrift(baseline, windowOf(baseline, rows, new Random(rows))).features[0]!.effects.find((e) => e.name === 'wasserstein_std')!.threshold;
    // 0.1 in quadrature with the null mean √(2/π) · 1.62σ · √(1/n + 1/5000): ≈ 0.256 at 30 rows, ≈ 0.110 at 1,000.
    expect(threshold(30)).toBeCloseTo(0.256, 2);
    expect(threshold(1000)).toBeCloseTo(0.11, 2);
  });
});

describe('calibration on small windows (seeded simulation)', () => {
  it('raises the dataset alarm on at most 5% of no-drift windows of 30, 50 and 100 rows against baselines of 124, 1,000 and 5,000 rows', () => {
    // 300 repetitions of each of the 9 pairs. A fresh baseline every repetition (every 10th at 5,000
    // rows, whose draw matters little): the rate is over baselines and windows, as the tests' level is.
    // Bonferroni over exact tests sits just under α (bench-size runs: 3.6–5.2% per pair, 2,000 windows
    // each), so each pair's 300 windows may show up to 8% by chance; the 2,700 together must not exceed 5%.
    const repetitions = 300;
    const windows = [30, 50, 100];
    let alarms = 0;
    for (const [rows, refresh] of [
      [124, 1],
      [1000, 1],
      [5000, 10],
    ] as const) {
      const pairAlarms = windows.map(() => 0);
      let baseline = simulatedBaseline(rows, SEED);
      for (let i = 0; i < repetitions; i++) {
        if (i % refresh === 0) baseline = simulatedBaseline(rows, SEED * 7 + rows + i);
        windows.forEach((n, k) => {
          const random = new Random(Math.imul(SEED, 1_000_003) + rows * 7 + n * 100_003 + i);
          if (detectDrift(baseline, windowOf(baseline, n, random, {}, i + 1)).dataset.alert) pairAlarms[k]!++;
        });
      }
      windows.forEach((n, k) => expect(pairAlarms[k]! / repetitions, `${n} rows vs ${rows}`).toBeLessThanOrEqual(0.08));
      alarms += pairAlarms.reduce((a, b) => a + b, 0);
    }
    expect(alarms / (9 * repetitions)).toBeLessThanOrEqual(0.05);
  });

  it('decides a 1σ mean shift of one feature in a 100-row window as drift of that feature, against 124, 1,000 and 5,000 rows', () => {
    const repetitions = 60;
    for (const rows of [124, 1000, 5000]) {
      let named = 0;
      for (let i = 0; i < repetitions; i++) {
        const target = NUMERIC_TARGETS[i % NUMERIC_TARGETS.length]!;
        const baseline = simulatedBaseline(rows, SEED + 100 + i);
        const report = detectDrift(baseline, windowOf(baseline, 100, new Random(SEED + i), { numeric: { [target]: 1 } }, i + 1));
        if (report.dataset.alert && report.dataset.driftedFeatures.includes(target)) named++;
      }
      expect(named / repetitions, `against ${rows} rows`).toBeGreaterThanOrEqual(0.95);
    }
  });

  it('flags a class-prior change (positives 20% → 50%) in at least 90% of 140-row windows', () => {
    // A classifier's world: two informative numeric features and a categorical whose law depends on
    // the class, and noise; the score is the Bayes posterior under the baseline's 20% prior.
    const model: ModelDef = {
      task: 'binary',
      features: [
        { name: 'strong', type: 'numeric' },
        { name: 'weak', type: 'numeric' },
        { name: 'kind', type: 'categorical', levels: ['a', 'b', 'c'] },
        { name: 'noise', type: 'numeric' },
      ],
    };
    const mu = [1.5, 0.5];
    const kinds = [
      [0.5, 0.3, 0.2],
      [0.3, 0.3, 0.4],
    ];
    const rowsOf = (rows: number, prior: number, random: Random) => {
      const x = new Float32Array(rows * 4);
      const values = new Float64Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        const positive = random.next() < prior ? 1 : 0;
        const strong = mu[0]! * positive + random.normal();
        const weak = mu[1]! * positive + random.normal();
        const kind = random.choice(kinds[positive]!);
        x.set([strong, weak, kind, random.normal()], r * 4);
        const logit = Math.log(0.2 / 0.8) + mu[0]! * strong - mu[0]! ** 2 / 2 + mu[1]! * weak - mu[1]! ** 2 / 2 + Math.log(kinds[1]![kind]! / kinds[0]![kind]!);
        const p = 1 / (1 + Math.exp(-logit));
        values.set([1 - p, p], r * 2);
      }
      return { x, scores: { values, width: 2 } };
    };
    const repetitions = 100;
    for (const baselineRows of [1000, 5000]) {
      let flagged = 0;
      for (let i = 0; i < repetitions; i++) {
        const reference = rowsOf(baselineRows, 0.2, new Random(SEED + 1000 + i));
        const baseline = baselineOf(model, baselineRows, [0, 1, 2, 3].map((c) => (r: number) => reference.x[r * 4 + c]!), reference.scores);
        const current = rowsOf(140, 0.5, new Random(SEED + 2000 + i));
        if (detectDriftOnRows(baseline, current.x, 140, { scores: current.scores }).dataset.alert) flagged++;
      }
      expect(flagged / repetitions, `against ${baselineRows} rows`).toBeGreaterThanOrEqual(0.9);
    }
  });
});

describe('a baseline too small for small windows', () => {
  const tmp = useTempDir();
  const fixtures = fileURLToPath(new URL('../fixtures/external/', import.meta.url));

  it('is named by a warning under 1,000 rows, and not from 1,000 on', () => {
    expect(smallBaselineWarning(124)).toMatch(/only 124 rows \(fewer than 1000\): drift on small windows cannot be detected reliably/);
    expect(smallBaselineWarning(1000)).toBeNull();
  });

  it('makes training on 300 rows warn', async () => {
    const warnings: string[] = [];
    await writeGeneratedCsv(tmp.file('small.csv'), { rows: 300, seed: 1 });
    await trainPackage(new DirectoryStore(tmp.file('trained')), { data: tmp.file('small.csv'), label: 'churned', name: 'small', epochs: 2, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([smallBaselineWarning(300)]);
  });

  it('makes importing a model with a 300-row sample warn', async () => {
    const warnings: string[] = [];
    await importModel(new DirectoryStore(tmp.file('imported')), {
      model: `${fixtures}sklearn-logreg.onnx`,
      data: `${fixtures}sample.csv`,
      name: 'logreg',
      label: 'segment',
      classes: ['bronze', 'silver', 'gold'],
      ignore: ['customer_id'],
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings).toContain(smallBaselineWarning(300));
  });
});

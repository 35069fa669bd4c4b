import { type Baseline, BaselineBuilder } from '../core/drift/baseline';
import { detectDrift, type DriftOptions } from '../core/drift/detect';
import type { DriftReport } from '../core/drift/report';
import { normalCdf } from '../core/drift/special';
import { DriftWindow } from '../core/drift/window';
import { Random } from '../core/random';

/**
 * Seeded synthetic data for calibrating the drift rules (bench/drift-calibration.ts and
 * test/unit/drift-calibration.test.ts): 21 features of assorted shapes — normal, skewed, heavy-tailed,
 * integer-valued (ties), zero-inflated, bimodal, a 0/1 flag, categoricals with 2 to 12 levels (some
 * under 1%), missing values — and a binary classifier's scores. Scores are drawn independently of
 * the features (a latent normal through a sigmoid, labels ~ Bernoulli(score), so they are calibrated):
 * this lets the prediction scenarios move the positive rate with no feature drift, and vice versa.
 */

/** Draws one value; `shift` (in the feature's σ) moves the distribution without changing its support. */
type Draw = (random: Random, shift: number) => number;

interface NumericSpec {
  readonly name: string;
  readonly kind: 'numeric';
  readonly draw: Draw;
  /** Standard deviation of the distribution, for σ-scaled shifts. */
  readonly sigma: number;
  /** Whether a location shift of the feature is a "mean shift of a normal feature" scenario target. */
  readonly normal?: boolean;
  readonly missing?: number;
}

interface CategoricalSpec {
  readonly name: string;
  readonly kind: 'categorical';
  readonly shares: readonly number[];
  readonly missing?: number;
  /** Whether a 10-point share change of this feature is a scenario target. */
  readonly target?: boolean;
}

type FeatureSpec = NumericSpec | CategoricalSpec;

const normal = (mu: number, sigma: number): Draw => (r, shift) => mu + sigma * (r.normal() + shift);

const FEATURES: readonly FeatureSpec[] = [
  { name: 'income', kind: 'numeric', draw: normal(50, 10), sigma: 10, normal: true },
  { name: 'score_z', kind: 'numeric', draw: normal(0, 1), sigma: 1, normal: true, missing: 0.02 },
  { name: 'temperature', kind: 'numeric', draw: normal(-3, 0.5), sigma: 0.5, normal: true },
  { name: 'balance', kind: 'numeric', draw: normal(1000, 250), sigma: 250, normal: true },
  { name: 'tenure_years', kind: 'numeric', draw: normal(5, 2), sigma: 2, normal: true },
  { name: 'session_minutes', kind: 'numeric', draw: (r, shift) => Math.exp(0.6 * r.normal()) + 0.79 * shift, sigma: 0.79 },
  { name: 'wait_seconds', kind: 'numeric', draw: (r, shift) => -3 * Math.log(1 - r.next()) + 3 * shift, sigma: 3 },
  { name: 'utilization', kind: 'numeric', draw: (r, shift) => 100 * r.next() + (100 / Math.sqrt(12)) * shift, sigma: 100 / Math.sqrt(12) },
  // Integer-valued (ties): a shift moves the latent value, the column stays integer.
  { name: 'visits', kind: 'numeric', draw: (r, shift) => Math.max(0, Math.round(10 + 3 * (r.normal() + shift))), sigma: 3 },
  // Zero-inflated: a shift moves the non-zero part only.
  { name: 'spend', kind: 'numeric', draw: (r, shift) => (r.next() < 0.4 ? 0 : Math.exp(3 + r.normal()) + 37.5 * shift), sigma: 37.5 },
  { name: 'chi_load', kind: 'numeric', draw: (r, shift) => r.normal() ** 2 + r.normal() ** 2 + r.normal() ** 2 + Math.sqrt(6) * shift, sigma: Math.sqrt(6) },
  { name: 'latency_mix', kind: 'numeric', draw: (r, shift) => (r.next() < 0.5 ? -2 : 2) + r.normal() + Math.sqrt(5) * shift, sigma: Math.sqrt(5) },
  // A 0/1 flag (a binary feature encoded as a number): a shift changes the share of ones by shift·σ.
  { name: 'is_premium', kind: 'numeric', draw: (r, shift) => (r.next() < 0.25 + shift * Math.sqrt(0.25 * 0.75) ? 1 : 0), sigma: Math.sqrt(0.25 * 0.75) },
  { name: 'region', kind: 'categorical', shares: [0.5, 0.3, 0.2], target: true },
  { name: 'plan', kind: 'categorical', shares: [0.4, 0.3, 0.2, 0.1], target: true },
  { name: 'channel', kind: 'categorical', shares: [0.35, 0.25, 0.2, 0.15, 0.05], target: true },
  { name: 'device', kind: 'categorical', shares: [0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.04, 0.01] },
  { name: 'country', kind: 'categorical', shares: [0.22, 0.18, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.025, 0.008, 0.007, 0.005] },
  { name: 'has_coupon', kind: 'categorical', shares: [0.7, 0.3], target: true },
  { name: 'browser', kind: 'categorical', shares: [0.45, 0.25, 0.1, 0.1, 0.05, 0.05], missing: 0.03 },
  { name: 'segment', kind: 'categorical', shares: [0.6, 0.25, 0.15], target: true },
];

/** The model manifest fragment BaselineBuilder needs for these features. */
export const MANIFEST = {
  task: 'binary' as const,
  input: {
    tensor: 'x',
    features: FEATURES.map((f) =>
      f.kind === 'numeric'
        ? { name: f.name, type: 'numeric' as const, nullable: true }
        : { name: f.name, type: 'categorical' as const, levels: f.shares.map((_, i) => `${f.name}_${i}`), nullable: true },
    ),
  },
  output: { tensor: 'p', kind: 'probabilities' as const, classes: ['no', 'yes'] },
  metrics: {} as Record<string, number>,
};

export const FEATURE_NAMES = FEATURES.map((f) => f.name);
/** Normal features whose 0.2σ mean shift the power scenario applies (in rotation). */
export const NUMERIC_TARGETS = FEATURES.filter((f) => f.kind === 'numeric' && f.normal).map((f) => f.name);
/** Categorical features whose 10-point share change the power scenario applies (in rotation), one binary among them. */
export const CATEGORY_TARGETS = FEATURES.filter((f) => f.kind === 'categorical' && f.target).map((f) => f.name);

/** What a simulated window changes relative to the baseline distribution. */
export interface Shift {
  /** Location shift, in σ, of the named numeric features. */
  readonly numeric?: Readonly<Record<string, number>>;
  /** Change of the second level's share (+0.10 = ten points), others scaled to compensate. */
  readonly categorical?: Readonly<Record<string, number>>;
  /** Share of positive predictions (baseline 0.20). */
  readonly positiveRate?: number;
}

export const BASELINE_POSITIVE_RATE = 0.2;

/** Inverse standard normal CDF by bisection (only used to place the score threshold). */
function normalQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function shiftedShares(shares: readonly number[], change: number): number[] {
  const target = 1;
  const next = Math.min(1, Math.max(0, shares[target]! + change));
  const scale = (1 - next) / (1 - shares[target]!);
  return shares.map((s, i) => (i === target ? next : s * scale));
}

export interface Rows {
  readonly x: Float32Array;
  readonly scores: Float64Array;
  readonly labels: Float64Array;
  readonly rows: number;
}

/** Draws `rows` encoded rows (manifest order), their scores [1 − p, p] and labels, under a shift. */
export function simulate(rows: number, random: Random, shift: Shift = {}): Rows {
  const width = FEATURES.length;
  const x = new Float32Array(rows * width);
  const scores = new Float64Array(rows * 2);
  const labels = new Float64Array(rows);
  const plans = FEATURES.map((f) => {
    if (f.kind === 'numeric') return { kind: 'numeric' as const, draw: f.draw, shift: shift.numeric?.[f.name] ?? 0, missing: f.missing ?? 0 };
    const change = shift.categorical?.[f.name] ?? 0;
    return { kind: 'categorical' as const, shares: change ? shiftedShares(f.shares, change) : [...f.shares], missing: f.missing ?? 0 };
  });
  const threshold = normalQuantile(1 - (shift.positiveRate ?? BASELINE_POSITIVE_RATE));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) {
      const plan = plans[c]!;
      let v: number;
      if (plan.missing && random.next() < plan.missing) v = Number.NaN;
      else if (plan.kind === 'numeric') v = plan.draw(random, plan.shift);
      else v = random.choice(plan.shares);
      x[r * width + c] = v;
    }
    const p = 1 / (1 + Math.exp(-2.5 * (random.normal() - threshold)));
    scores[r * 2] = 1 - p;
    scores[r * 2 + 1] = p;
    labels[r] = random.next() < p ? 1 : 0;
  }
  return { x, scores, labels, rows };
}

/** The baseline profile of `rows` rows drawn with `seed`, with the accuracy, macro-F1 and size of its labels as metrics. */
export function simulatedBaseline(rows = 5000, seed = 20260101, sampleSize = 5000): Baseline {
  const data = simulate(rows, new Random(seed));
  let correct = 0;
  const confusion = [
    [0, 0],
    [0, 0],
  ];
  for (let r = 0; r < rows; r++) {
    const predicted = data.scores[r * 2 + 1]! > data.scores[r * 2]! ? 1 : 0;
    confusion[data.labels[r]!]![predicted]!++;
    if (predicted === data.labels[r]) correct++;
  }
  const f1 = [0, 1].map((k) => {
    const tp = confusion[k]![k]!;
    const predicted = confusion[0]![k]! + confusion[1]![k]!;
    const actual = confusion[k]![0]! + confusion[k]![1]!;
    return tp ? (2 * tp) / (predicted + actual) : 0;
  });
  const builder = new BaselineBuilder({ ...MANIFEST, metrics: { accuracy: correct / rows, macroF1: (f1[0]! + f1[1]!) / 2, rows } }, { sampleSize });
  builder.addRows(data.x, rows, { values: data.scores, width: 2 });
  return builder.finish(new Date('2026-01-01T00:00:00Z'));
}

/** Outcome of one simulated window. */
export interface Outcome {
  /** The dataset-level alarm of the full rule. */
  readonly alert: boolean;
  /** Drifted features named by the report. */
  readonly drifted: readonly string[];
  readonly predictionDrift: boolean;
  /** Ablation: any test significant after the correction, effect gates ignored. */
  readonly testsOnlyCorrected: boolean;
  /** Ablation: any test significant at α with no correction and no gate. */
  readonly testsOnlyUncorrected: boolean;
}

/** Reduces a report to what the calibration counts, including the two ablations (from the same p-values). */
export function outcomeOf(report: DriftReport): Outcome {
  const alpha = report.multipleTesting.alpha;
  const tests = [
    ...report.features.map((f) => [f.pValue, f.adjustedPValue] as const),
    ...(report.prediction ? [[report.prediction.score.pValue, report.prediction.score.adjustedPValue] as const] : []),
    ...(report.prediction?.classShares ? [[report.prediction.classShares.pValue, report.prediction.classShares.adjustedPValue] as const] : []),
  ].filter(([p]) => p !== null);
  return {
    alert: report.dataset.alert,
    drifted: report.dataset.driftedFeatures,
    predictionDrift: report.dataset.predictionDrift,
    testsOnlyCorrected: tests.some(([, q]) => q !== null && q < alpha),
    testsOnlyUncorrected: tests.some(([p]) => p! < alpha),
  };
}

/** A calibration scenario: how each repetition's shift is chosen and what counts as naming it right. */
export interface Scenario {
  readonly name: string;
  readonly rows: number;
  readonly shift: (repetition: number) => Shift;
  /** The single drifted feature expected in repetition i ('prediction' for a prediction-only change), or undefined for no-drift scenarios. */
  readonly expected?: (repetition: number) => string;
}

export const SCENARIOS = {
  noDrift: { name: 'no drift, 1,000 rows', rows: 1000, shift: () => ({}) },
  numericShift: {
    name: '0.2σ mean shift of one numeric feature, 1,000 rows',
    rows: 1000,
    shift: (i: number) => ({ numeric: { [NUMERIC_TARGETS[i % NUMERIC_TARGETS.length]!]: 0.2 } }),
    expected: (i: number) => NUMERIC_TARGETS[i % NUMERIC_TARGETS.length]!,
  },
  categoryShift: {
    name: '10-point change of one category share, 1,000 rows',
    rows: 1000,
    shift: (i: number) => ({ categorical: { [CATEGORY_TARGETS[i % CATEGORY_TARGETS.length]!]: 0.1 } }),
    expected: (i: number) => CATEGORY_TARGETS[i % CATEGORY_TARGETS.length]!,
  },
  positiveRate: {
    name: 'positive-prediction rate 0.20 → 0.35, 1,000 rows',
    rows: 1000,
    shift: () => ({ positiveRate: 0.35 }),
    expected: () => 'prediction',
  },
  immaterialLarge: {
    name: 'immaterial shift everywhere (0.02σ, 1 point, rate +0.01), 100,000 rows',
    rows: 100_000,
    shift: () => ({
      numeric: Object.fromEntries(FEATURES.filter((f) => f.kind === 'numeric').map((f) => [f.name, f.name === 'is_premium' ? 0.01 / f.sigma : 0.02])),
      categorical: Object.fromEntries(FEATURES.filter((f) => f.kind === 'categorical').map((f) => [f.name, 0.01])),
      positiveRate: BASELINE_POSITIVE_RATE + 0.01,
    }),
  },
} satisfies Record<string, Scenario>;

/** Tallies of a scenario's repetitions (sums, so partial results of workers add up). */
export interface Tally {
  repetitions: number;
  alerts: number;
  /** Repetitions that named exactly the expected feature (or only the predictions) — power scenarios. */
  named: number;
  /** Ablation: any test significant after the correction, effect gates ignored. */
  testsOnlyCorrected: number;
  /** Ablation: any test significant at α, no correction, no gate. */
  testsOnlyUncorrected: number;
  /** Which features (or "prediction") were named, and how often. */
  namedCounts: Record<string, number>;
}

/** Adds two tallies of the same scenario. */
export function addTallies(a: Tally, b: Tally): Tally {
  const namedCounts = { ...a.namedCounts };
  for (const [k, v] of Object.entries(b.namedCounts)) namedCounts[k] = (namedCounts[k] ?? 0) + v;
  return {
    repetitions: a.repetitions + b.repetitions,
    alerts: a.alerts + b.alerts,
    named: a.named + b.named,
    testsOnlyCorrected: a.testsOnlyCorrected + b.testsOnlyCorrected,
    testsOnlyUncorrected: a.testsOnlyUncorrected + b.testsOnlyUncorrected,
    namedCounts,
  };
}

export interface RunOptions {
  /** Detector settings. */
  readonly drift?: DriftOptions;
  /** Window sample size (the KS sample). @default 5000 */
  readonly sampleSize?: number;
  /** First repetition index (repetitions from…from+count−1 are reproducible on their own). @default 0 */
  readonly from?: number;
}

/** Runs `repetitions` seeded windows of a scenario and tallies alerts, naming and the ablations. */
export function runScenario(baseline: Baseline, scenario: Scenario, repetitions: number, seed: number, run: RunOptions = {}): Tally {
  const from = run.from ?? 0;
  const tally: Tally = { repetitions, alerts: 0, named: 0, testsOnlyCorrected: 0, testsOnlyUncorrected: 0, namedCounts: {} };
  for (let i = from; i < from + repetitions; i++) {
    // Each repetition has its own stream, so results do not depend on how repetitions are split across workers.
    const random = new Random(Math.imul(seed, 1_000_003) + i);
    const window = new DriftWindow(baseline, { seed: seed + i, sampleSize: run.sampleSize });
    const shift = scenario.shift(i);
    const chunk = 10_000;
    for (let done = 0; done < scenario.rows; done += chunk) {
      const data = simulate(Math.min(chunk, scenario.rows - done), random, shift);
      window.addRows(data.x, data.rows, { values: data.scores, width: 2 }, data.labels);
    }
    const outcome = outcomeOf(detectDrift(baseline, window, run.drift));
    if (outcome.alert) tally.alerts++;
    if (outcome.testsOnlyCorrected) tally.testsOnlyCorrected++;
    if (outcome.testsOnlyUncorrected) tally.testsOnlyUncorrected++;
    for (const name of outcome.drifted) tally.namedCounts[name] = (tally.namedCounts[name] ?? 0) + 1;
    if (outcome.predictionDrift) tally.namedCounts.prediction = (tally.namedCounts.prediction ?? 0) + 1;
    if (scenario.expected) {
      const expected = scenario.expected(i);
      const exact =
        expected === 'prediction'
          ? outcome.drifted.length === 0 && outcome.predictionDrift
          : outcome.drifted.length === 1 && outcome.drifted[0] === expected && !outcome.predictionDrift;
      if (exact) tally.named++;
    }
  }
  return tally;
}

import type { Baseline, CategoricalProfile, NumericProfile } from './baseline';
import { assessQuality, QUALITY_DEFAULTS, type QualityOptions } from './quality';
import type { DriftReport, Effect, FeatureDrift, Histogram, MissingDrift, PredictionDrift, Verdict } from './report';
import { assessMultivariate } from './multivariate';
import {
  andersonDarling2Samp,
  benjaminiHochberg,
  bonferroni,
  cdfSpread,
  chiSquareContingency,
  gateThreshold,
  jensenShannonDistance,
  jensenShannonNullMean,
  ks2Samp,
  linfDistance,
  MIN_EXPECTED_COUNT,
  populationStabilityIndex,
  psiNullMean,
  shareChangeNullMean,
  sortedCopy,
  twoProportionTest,
  twoProportionZTest,
  wassersteinDistance,
  wassersteinNullMean,
} from './stats';
import { type CategoricalWindowColumn, DriftWindow, type NumericWindowColumn, type ScoreRows, type WindowOptions } from './window';

/**
 * Drift decisions: baseline profile + current window → DriftReport.
 *
 * A feature drifts when BOTH
 *  1. its test rejects "same distribution" after a multiple-testing correction across every test in
 *     the report (features, their missing rates, predictions; Bonferroni at family-wise α = 0.04 by
 *     default, or Benjamini–Hochberg; the quality tests take the other 1% of the one verdict's 5%), and
 *  2. an effect size shows the change is material (the gate), so that a large window does not alarm
 *     on shifts too small to matter, however significant.
 * Because the gate only removes rejections, the chance of any false alarm over the whole report is
 * still at most α (Bonferroni: the family-wise error rate; BH: under the global null FDR = FWER), at
 * any sample size, as long as each p-value is valid there: hence exact tests for small samples.
 *
 * Each gate's threshold allows for the effect's mean under no drift at the sample sizes compared
 * (its null mean, stats.ts): a distance between two samples is positive from noise alone, by
 * O(√(1/n + 1/m)), and on 30 rows that noise exceeds the thresholds below. PSI's threshold is raised
 * by its null mean b, the other distances' to √(threshold² + b²) (noise adds in quadrature:
 * gateThreshold). The allowance vanishes as the samples grow: the W/σ gate of 0.1 is 0.11 at 1,000
 * rows against 5,000, 0.26 at 30.
 *
 * Tests and gates (defaults, see DRIFT_DEFAULTS):
 *  - numeric: two-sample Kolmogorov–Smirnov of the window sample against the baseline sample, with
 *    the exact p-value (ks2Samp: exact path counting up to 10,000 values a side, so at every window
 *    size below that); gate PSI on the baseline deciles ≥ 0.1 (the conventional "moderate shift") OR
 *    Wasserstein-1 / baseline σ ≥ 0.1 (a tenth of a standard deviation). A 0.2σ mean shift gives
 *    W/σ ≈ 0.2 and passes; a 0.02σ shift measured 0.015–0.055 on 100,000 rows (the shift plus the
 *    baseline sample's own noise) and is held back at any n; PSI catches changes of shape (spread,
 *    bimodality) that move mass but not far;
 *  - categorical: levels with < 1% share on both sides pooled, then the sparsest buckets merged until
 *    every expected count of the smaller side is at least 5 (Cochran's rule; the merging looks only at
 *    the pooled counts, the margins the test conditions on, so it cannot bias it); chi-square test of
 *    homogeneity of the baseline and current counts; gate L∞ of the shares ≥ 0.05 OR Jensen–Shannon
 *    distance (base 2) ≥ 0.1. A "10-point" change of one share measures L∞ ≈ 0.10 ± 0.016 at 1,000 vs
 *    5,000 rows, so a 0.1 threshold would miss half of them: 0.05 sits three standard errors below,
 *    while 1-point changes (L∞ ≈ 0.01–0.02) stay far below. The JS gate catches diffuse change spread
 *    over many levels (a 10-point change alone is JS ≈ 0.09);
 *  - binary (two levels or buckets, or a numeric column with two values in the baseline): two-proportion
 *    z-test, or Fisher's exact test when an expected count is under 5; gate |Δ share| ≥ 0.05 (the same L∞);
 *  - missing values, per feature: the missing rate is a proportion of every row, tested like one —
 *    one-sided (a rise), z-test or Fisher's exact test as above, gate: a rise of at least 0.05. One-sided
 *    because a rise is what breaks a model (more imputed inputs, or an upstream field going dark); a fall
 *    lowers its input's missing rate and, when it comes from an upstream default filling the gaps, shows
 *    in the feature's own distribution test as a spike at the filled value. A feature with no missing
 *    value on either side has nothing that could reject, so it adds no test to the family (Tarone (1990),
 *    "A modified Bonferroni method for discrete data", Biometrics 46(2)). Missing values are data: a row
 *    missing one feature still counts in every other feature's test (the window counts per column);
 *  - predictions: the score (positive-class or top-class probability, or the regression value) by KS,
 *    with PSI as its severity: warn at 0.1, alert at 0.25 (only the alert raises the alarm); the
 *    predicted class shares by chi-square with gate L∞ ≥ 0.1. For a binary model the class shares are
 *    the positive-prediction rate, tested by the two-proportion z-test with gate |Δ rate| ≥ 0.05: a
 *    0.20→0.35 change measures 0.15 ± 0.016 against a baseline rate that is itself a sample, and with a
 *    0.1 gate ~0.5% of such windows were missed in calibration; 0.05 misses none and is still 3.5
 *    standard errors above the no-drift noise at 1,000 rows (and 5 points of positive rate matter);
 *  - fewer than `minSampleSize` (30) rows on either side: the dataset is 'insufficient_data' and no
 *    test runs; a feature with fewer non-missing values than that is 'insufficient_data' on its own
 *    (its missing rate is still tested). Calibrated by test/unit/drift-small-samples.test.ts: windows
 *    of 30–100 rows against baselines of 124–5,000 rows.
 * Unseen-level shares are always reported (and a rise by the merge share adds a warning); unseen
 * levels also enter the categorical test (as their own bucket once they reach 1%).
 */

export interface DriftOptions {
  /**
   * Family-wise significance level (Bonferroni) or false-discovery rate (BH) of the drift tests. 4%,
   * so that with the quality tests' 1% (QualityOptions.alpha) the one verdict's false alarms stay
   * within 5%. @default 0.04
   */
  readonly alpha?: number;
  /** Multiple-testing correction across all tests of a report. @default 'bonferroni' */
  readonly correction?: 'bonferroni' | 'benjamini-hochberg' | 'none';
  /**
   * Fewest rows on each side for a verdict, and fewest non-missing values on each side for a feature's
   * test; below it the verdict is 'insufficient_data'. When given, also the quality tests' fewest
   * labelled (or scored) rows, unless `quality.minSampleSize` says otherwise. @default 30
   */
  readonly minSampleSize?: number;
  /** Numeric gate: PSI on the baseline bins. @default 0.1 */
  readonly psiThreshold?: number;
  /** Numeric gate: Wasserstein-1 distance over the baseline standard deviation. @default 0.1 */
  readonly wassersteinStdThreshold?: number;
  /** Categorical and binary gate: largest absolute share change. @default 0.05 */
  readonly linfThreshold?: number;
  /** Categorical gate: Jensen–Shannon distance (base 2). @default 0.1 */
  readonly jensenShannonThreshold?: number;
  /** Levels under this share on both sides are pooled before the chi-square test. @default 0.01 */
  readonly mergeBelow?: number;
  /** Missing-rate gate: smallest rise of a feature's missing rate (current − baseline) that counts. @default 0.05 */
  readonly missingRateThreshold?: number;
  /** Prediction score PSI that warns. @default 0.1 */
  readonly scorePsiWarn?: number;
  /** Prediction score PSI that alerts (raises the alarm). @default 0.25 */
  readonly scorePsiAlert?: number;
  /** Predicted-class-share gate of multiclass models: L∞ of the class shares. @default 0.1 */
  readonly classShareThreshold?: number;
  /** Gate of binary models: absolute change of the positive-prediction rate. @default 0.05 */
  readonly positiveRateThreshold?: number;
  /**
   * Test of a numeric feature's distribution: the two-sample Anderson–Darling test (more power at the
   * same error rate; columns with many ties still go to KS, see AD_MAX_TIE_SHARE), or KS everywhere.
   * @default 'anderson_darling'
   */
  readonly numericTest?: 'anderson_darling' | 'ks';
  /**
   * Significance level of the multivariate (PCA reconstruction) test, which is outside the family:
   * 1%, so that it adds little to the report's false alarms beside the family's 5% (its rank test
   * holds its level: 2.9–6.0% of no-drift windows rejected at α = 5% in bench:drift). @default 0.01
   */
  readonly multivariateAlpha?: number;
  /** Model-quality settings. */
  readonly quality?: QualityOptions;
}

export const DRIFT_DEFAULTS = {
  alpha: 0.04,
  correction: 'bonferroni',
  minSampleSize: 30,
  psiThreshold: 0.1,
  wassersteinStdThreshold: 0.1,
  linfThreshold: 0.05,
  jensenShannonThreshold: 0.1,
  mergeBelow: 0.01,
  missingRateThreshold: 0.05,
  scorePsiWarn: 0.1,
  scorePsiAlert: 0.25,
  classShareThreshold: 0.1,
  positiveRateThreshold: 0.05,
  numericTest: 'anderson_darling',
  multivariateAlpha: 0.01,
} as const;

type Resolved = Required<Omit<DriftOptions, 'quality'>> & { quality: QualityOptions };

const UNSEEN = '(unseen)';

/** A baseline sample sorted, with its CDF spread for the Wasserstein allowance. */
interface BaselineSample {
  readonly sorted: Float64Array;
  readonly spread: number;
  /** Share of the sample's values that repeat an earlier one (0 for continuous data). */
  readonly tieShare: number;
}

/**
 * Numeric columns whose baseline sample repeats at most this share of its values are tested by
 * Anderson–Darling, the others (integer-valued, zero-inflated) by KS. The AD p-value standardizes by
 * the variance for continuous data; on a column of ~20 integer levels simulation measured 1.9–2.1×
 * the nominal rate at α = 0.002 (1,000 vs 1,000 and 50 vs 1,000 rows), while KS's exact p-value is
 * conservative under ties.
 */
export const AD_MAX_TIE_SHARE = 0.01;

/** Computed once per profile object (the monitor reuses one baseline for many windows). */
const baselineSamples = new WeakMap<NumericProfile, BaselineSample>();

function baselineSample(profile: NumericProfile): BaselineSample {
  let sample = baselineSamples.get(profile);
  if (!sample) {
    const sorted = sortedCopy(profile.sample.filter((v) => Number.isFinite(v)));
    let repeats = 0;
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) repeats++;
    sample = { sorted, spread: cdfSpread(sorted), tieShare: sorted.length ? repeats / sorted.length : 0 };
    baselineSamples.set(profile, sample);
  }
  return sample;
}

/** A test awaiting the family-wide correction. */
interface Pending {
  pValue: number | null;
  gate: boolean;
  adjusted: number | null;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const rate = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

/** A distance effect whose threshold allows for its null mean at the sample sizes compared (gateThreshold). */
const gated = (name: string, value: number, threshold: number, nullMean: number): Effect => ({ name, value, threshold: gateThreshold('distance', threshold, nullMean) });

/** The gating effect: the one largest relative to its threshold. */
function decisive(effects: Effect[]): Effect | null {
  let best: Effect | null = null;
  for (const e of effects) if (!best || e.value / e.threshold > best.value / best.threshold) best = e;
  return best;
}

const opens = (effects: readonly Effect[]): boolean => effects.some((e) => e.value >= e.threshold);

function binsHistogram(profile: NumericProfile, column: NumericWindowColumn): Histogram {
  const lo = Math.min(profile.count ? profile.min : Infinity, column.count ? column.min : Infinity);
  const hi = Math.max(profile.count ? profile.max : -Infinity, column.count ? column.max : -Infinity);
  return {
    type: 'bins',
    edges: [...profile.binEdges],
    range: [Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) ? hi : 0],
    baseline: [...profile.binShares],
    current: Array.from(column.binCounts, (c) => (column.count ? c / column.count : 0)),
  };
}

function numericSummaries(profile: NumericProfile, column: NumericWindowColumn): FeatureDrift['summary'] {
  return {
    baseline: { mean: profile.mean, std: profile.std, min: profile.min, max: profile.max },
    current: { mean: finite(column.mean), std: finite(column.std), min: finite(column.min), max: finite(column.max) },
  };
}

/** What a feature's report says before its test: what was compared and how it looks. */
type FeatureBase = Omit<FeatureDrift, 'statistic' | 'dof' | 'pValue' | 'adjustedPValue' | 'effect' | 'effects' | 'verdict' | 'missingRate' | 'missing'>;

/** A feature's distribution test, its verdict left null while it awaits the correction. */
interface Assessed {
  feature: FeatureBase & Pick<FeatureDrift, 'statistic' | 'dof' | 'pValue' | 'effect' | 'effects'> & { verdict: Verdict | null };
  pending: Pending | null;
}

function insufficient(base: FeatureBase): Assessed {
  return { feature: { ...base, verdict: 'insufficient_data', statistic: null, pValue: null, dof: null, effect: null, effects: [] }, pending: null };
}

function tested(base: FeatureBase, statistic: number | null, dof: number | null, pValue: number, effects: Effect[]): Assessed {
  return { feature: { ...base, statistic, dof, pValue, effect: decisive(effects), effects, verdict: null }, pending: { pValue, gate: opens(effects), adjusted: null } };
}

/** Missing values and rows of one feature on one side. */
interface MissingCounts {
  readonly missing: number;
  readonly rows: number;
}

interface AssessedMissing {
  missingRate: FeatureDrift['missingRate'];
  missing: Omit<MissingDrift, 'adjustedPValue' | 'verdict'> & { verdict: Verdict | null };
  pending: Pending | null;
}

/** The one-sided test of a rise of a feature's missing rate, over every row of each side. */
function assessMissing(baseline: MissingCounts, current: MissingCounts, o: Resolved): AssessedMissing {
  const missingRate = { baseline: rate(baseline.missing, baseline.rows), current: rate(current.missing, current.rows) };
  const base = { baselineRate: missingRate.baseline ?? 0, currentRate: missingRate.current, threshold: o.missingRateThreshold };
  const untested = (verdict: Verdict): AssessedMissing => ({ missingRate, missing: { ...base, test: 'none', pValue: null, verdict }, pending: null });
  if (baseline.rows < o.minSampleSize || current.rows < o.minSampleSize) return untested('insufficient_data');
  if (baseline.missing + current.missing === 0) return untested('no_drift');
  const t = twoProportionTest(baseline.missing, baseline.rows, current.missing, current.rows, 'greater');
  return { missingRate, missing: { ...base, test: t.test, pValue: t.pValue, verdict: null }, pending: { pValue: t.pValue, gate: t.difference >= o.missingRateThreshold, adjusted: null } };
}

function assessNumeric(profile: NumericProfile, column: NumericWindowColumn, o: Resolved): Assessed {
  if (column.binary) return assessBinaryNumeric(profile, column, o);
  const base: FeatureBase = {
    name: profile.name,
    kind: 'numeric',
    test: 'ks',
    counts: { baseline: profile.count, current: column.count },
    unseenShare: null,
    histogram: binsHistogram(profile, column),
    summary: numericSummaries(profile, column),
  };
  const { sorted: baselineValues, spread, tieShare } = baselineSample(profile);
  if (profile.count < o.minSampleSize || column.count < o.minSampleSize || baselineValues.length < o.minSampleSize) return insufficient(base);
  const current = sortedCopy(column.reservoir.sample());
  const useAd = o.numericTest === 'anderson_darling' && tieShare <= AD_MAX_TIE_SHARE;
  const ks = useAd ? andersonDarling2Samp(baselineValues, current, { sorted: true }) : ks2Samp(baselineValues, current, { sorted: true });
  const psi = populationStabilityIndex(profile.binShares, base.histogram.current);
  // A constant baseline has no spread to scale by; then the distance is read in the feature's own units.
  const scale = profile.std > 0 ? profile.std : 1;
  const wStd = wassersteinDistance(baselineValues, current, { sorted: true }) / scale;
  const m = baselineValues.length;
  const effects: Effect[] = [
    // PSI counts every current value in the bins; KS and Wasserstein see the window's sample.
    { name: 'psi', value: psi, threshold: gateThreshold('psi', o.psiThreshold, psiNullMean(profile.binShares.length, column.count, m)) },
    gated('wasserstein_std', wStd, o.wassersteinStdThreshold, wassersteinNullMean(spread, current.length, m) / scale),
  ];
  return tested({ ...base, test: useAd ? 'anderson_darling' : 'ks' }, ks.statistic, null, ks.pValue, effects);
}

/** Two-proportion test of the share of the higher value of a two-valued numeric column (0/1 flags). */
function assessBinaryNumeric(profile: NumericProfile, column: NumericWindowColumn, o: Resolved): Assessed {
  const binary = column.binary!;
  const baselineHigh = profile.sample.filter((v) => v === binary.high).length;
  const baselineN = profile.sample.length;
  const currentN = binary.lowCount + binary.highCount;
  const baseShare = baselineN ? baselineHigh / baselineN : 0;
  const currentShare = currentN ? binary.highCount / currentN : 0;
  const base: FeatureBase = {
    name: profile.name,
    kind: 'binary',
    test: 'two_proportion_z',
    counts: { baseline: baselineN, current: currentN },
    unseenShare: { baseline: 0, current: rate(binary.otherCount, column.count) },
    histogram: { type: 'levels', labels: [String(binary.low), String(binary.high)], baseline: [1 - baseShare, baseShare], current: currentN ? [1 - currentShare, currentShare] : [0, 0] },
    summary: numericSummaries(profile, column),
  };
  if (baselineN < o.minSampleSize || currentN < o.minSampleSize) return insufficient(base);
  const counts = { baseline: [baselineN - baselineHigh, baselineHigh], current: [binary.lowCount, binary.highCount] };
  const t = twoProportionTest(baselineHigh, baselineN, binary.highCount, currentN);
  return tested({ ...base, test: t.test }, finite(t.statistic), null, t.pValue, shareEffects(counts, { name: 'linf', threshold: o.linfThreshold }, null));
}

/** Baseline and current counts over the same buckets (levels or classes). */
interface Buckets {
  readonly baseline: number[];
  readonly current: number[];
}

/**
 * Buckets for the categorical test: every level (and the unseen bucket) reaching `mergeBelow` on
 * either side stays; the rest are pooled into one "other" bucket, itself folded into the smallest
 * bucket when still under `mergeBelow` on both sides. Then, while more than two buckets remain, the
 * sparsest is merged into the next sparsest until every expected count of the smaller side reaches
 * MIN_EXPECTED_COUNT (Cochran's rule for the chi-square approximation; two buckets go to a 2×2 test,
 * exact when sparse). That step looks only at pooled bucket totals, the margins the tests condition on.
 */
function categoricalBuckets(baselineCounts: number[], currentCounts: number[], mergeBelow: number): Buckets {
  const bTotal = baselineCounts.reduce((s, v) => s + v, 0);
  const cTotal = currentCounts.reduce((s, v) => s + v, 0);
  const baseline: number[] = [];
  const current: number[] = [];
  let otherB = 0;
  let otherC = 0;
  for (let i = 0; i < baselineCounts.length; i++) {
    const b = baselineCounts[i]!;
    const c = currentCounts[i]!;
    if (b / bTotal >= mergeBelow || c / cTotal >= mergeBelow) {
      baseline.push(b);
      current.push(c);
    } else {
      otherB += b;
      otherC += c;
    }
  }
  if (otherB + otherC > 0) {
    if (otherB / bTotal >= mergeBelow || otherC / cTotal >= mergeBelow || baseline.length === 0) {
      baseline.push(otherB);
      current.push(otherC);
    } else {
      let smallest = 0;
      for (let i = 1; i < baseline.length; i++) if (baseline[i]! + current[i]! < baseline[smallest]! + current[smallest]!) smallest = i;
      baseline[smallest]! += otherB;
      current[smallest]! += otherC;
    }
  }
  const smallerShare = Math.min(bTotal, cTotal) / (bTotal + cTotal);
  const pooled = (i: number) => baseline[i]! + current[i]!;
  while (baseline.length > 2) {
    let sparsest = 0;
    let next = 1;
    if (pooled(next) < pooled(sparsest)) [sparsest, next] = [next, sparsest];
    for (let i = 2; i < baseline.length; i++) {
      if (pooled(i) < pooled(sparsest)) [sparsest, next] = [i, sparsest];
      else if (pooled(i) < pooled(next)) next = i;
    }
    if (pooled(sparsest) * smallerShare >= MIN_EXPECTED_COUNT) break;
    baseline[next]! += baseline[sparsest]!;
    current[next]! += current[sparsest]!;
    baseline.splice(sparsest, 1);
    current.splice(sparsest, 1);
  }
  return { baseline, current };
}

/**
 * The share effects of buckets: L∞ of the shares (named `linf.name`) and, with a threshold and more
 * than two buckets, the Jensen–Shannon distance, each threshold raised by its null mean (the L∞ one
 * for the pooled share of largest variance, the one nearest ½).
 */
function shareEffects(buckets: Buckets, linf: { name: string; threshold: number }, jensenShannonThreshold: number | null): Effect[] {
  const bTotal = buckets.baseline.reduce((s, v) => s + v, 0);
  const cTotal = buckets.current.reduce((s, v) => s + v, 0);
  const bShares = buckets.baseline.map((v) => v / bTotal);
  const cShares = buckets.current.map((v) => v / cTotal);
  const widest = buckets.baseline
    .map((b, i) => (b + buckets.current[i]!) / (bTotal + cTotal))
    .reduce((best, p) => (Math.abs(p - 0.5) < Math.abs(best - 0.5) ? p : best), 0);
  const effects = [gated(linf.name, linfDistance(bShares, cShares), linf.threshold, shareChangeNullMean(widest, cTotal, bTotal))];
  if (jensenShannonThreshold !== null && buckets.baseline.length > 2) {
    effects.push(gated('jensen_shannon', jensenShannonDistance(bShares, cShares), jensenShannonThreshold, jensenShannonNullMean(buckets.baseline.length, cTotal, bTotal)));
  }
  return effects;
}

function assessCategorical(profile: CategoricalProfile, column: CategoricalWindowColumn, o: Resolved): Assessed {
  const levels = profile.levels.length;
  const currentCount = column.count;
  const baselineCounts = [...profile.shares, profile.unseenShare].map((s) => Math.round(s * profile.count));
  const currentCounts = Array.from(column.counts);
  const isBinary = levels === 2;
  const base: FeatureBase = {
    name: profile.name,
    kind: isBinary ? 'binary' : 'categorical',
    test: isBinary ? 'two_proportion_z' : 'chi_square',
    counts: { baseline: profile.count, current: currentCount },
    unseenShare: { baseline: profile.unseenShare, current: rate(column.counts[levels]!, currentCount) },
    histogram: {
      type: 'levels',
      labels: [...profile.levels, UNSEEN],
      baseline: [...profile.shares, profile.unseenShare],
      current: currentCounts.map((c) => (currentCount ? c / currentCount : 0)),
    },
    summary: null,
  };
  if (profile.count < o.minSampleSize || currentCount < o.minSampleSize) return insufficient(base);
  const buckets = categoricalBuckets(baselineCounts, currentCounts, o.mergeBelow);
  if (buckets.baseline.length < 2) {
    // One bucket: every value in the same level on both sides; nothing can have moved.
    return { feature: { ...base, test: 'none', statistic: null, dof: null, pValue: null, effect: null, effects: [], verdict: 'no_drift' }, pending: null };
  }
  const effects = shareEffects(buckets, { name: 'linf', threshold: o.linfThreshold }, o.jensenShannonThreshold);
  if (buckets.baseline.length === 2) {
    const t = twoProportionTest(buckets.baseline[1]!, buckets.baseline[0]! + buckets.baseline[1]!, buckets.current[1]!, buckets.current[0]! + buckets.current[1]!);
    return tested({ ...base, test: t.test }, finite(t.statistic), null, t.pValue, effects);
  }
  const chi = chiSquareContingency([buckets.baseline, buckets.current], false);
  return tested({ ...base, test: 'chi_square' }, chi.statistic, chi.dof, chi.pValue, effects);
}

interface PredictionAssessment {
  drift: Omit<PredictionDrift, 'verdict'>;
  score: Pending | null;
  psi: number | null;
  shares: Pending | null;
  sufficient: boolean;
}

function assessPrediction(baseline: Baseline, window: DriftWindow, o: Resolved): PredictionAssessment | null {
  const prediction = baseline.prediction;
  const column = window.score;
  if (!prediction || !column) return null;
  const profile = prediction.kind === 'classification' ? prediction.score : prediction.value;
  const { sorted: baselineValues } = baselineSample(profile);
  const sufficient = profile.count >= o.minSampleSize && column.count >= o.minSampleSize && baselineValues.length >= o.minSampleSize;
  const histogram = binsHistogram(profile, column);
  let score: Pending | null = null;
  let psi: number | null = null;
  let ksStatistic: number | null = null;
  let ksP: number | null = null;
  // PSI's null mean raises both severity levels, as it raises the features' PSI gate.
  const psiNoise = sufficient ? psiNullMean(profile.binShares.length, column.count, baselineValues.length) : 0;
  if (sufficient) {
    const ks = ks2Samp(baselineValues, sortedCopy(column.reservoir.sample()), { sorted: true });
    ksStatistic = ks.statistic;
    ksP = ks.pValue;
    psi = populationStabilityIndex(profile.binShares, histogram.current);
    score = { pValue: ks.pValue, gate: true, adjusted: null };
  }
  const scoreDrift = {
    test: 'ks' as const,
    statistic: ksStatistic,
    pValue: ksP,
    adjustedPValue: null,
    psi,
    status: sufficient ? ('ok' as const) : ('insufficient_data' as const),
    thresholds: { warn: gateThreshold('psi', o.scorePsiWarn, psiNoise), alert: gateThreshold('psi', o.scorePsiAlert, psiNoise) },
    histogram,
  };
  if (prediction.kind === 'regression') {
    return { drift: { kind: 'regression', score: scoreDrift, classShares: null }, score, psi, shares: null, sufficient };
  }
  const classes = prediction.classes;
  const scored = Array.from(window.classCounts).reduce((s, v) => s + v, 0);
  const baselineScored = profile.count;
  const baselineCounts = prediction.classShares.map((s) => Math.round(s * baselineScored));
  const currentCounts = Array.from(window.classCounts);
  const currentShares = currentCounts.map((c) => (scored ? c / scored : 0));
  const binary = classes.length === 2;
  const sharesBase = {
    classes: [...classes],
    baseline: [...prediction.classShares],
    current: currentShares,
    positiveRate: binary ? { baseline: prediction.classShares[1]!, current: scored ? currentShares[1]! : null } : null,
    test: binary ? ('two_proportion_z' as const) : ('chi_square' as const),
  };
  let shares: Pending | null = null;
  let classShares: PredictionDrift['classShares'];
  if (baselineScored < o.minSampleSize || scored < o.minSampleSize) {
    classShares = { ...sharesBase, statistic: null, dof: null, pValue: null, adjustedPValue: null, effect: null, verdict: 'insufficient_data' };
  } else {
    let statistic: number;
    let dof: number | null = null;
    let pValue: number;
    let effect: Effect;
    if (binary) {
      const z = twoProportionZTest(baselineCounts[1]!, baselineCounts[0]! + baselineCounts[1]!, currentCounts[1]!, scored);
      statistic = z.statistic;
      pValue = z.pValue;
      effect = shareEffects({ baseline: baselineCounts, current: currentCounts }, { name: 'positive_rate_change', threshold: o.positiveRateThreshold }, null)[0]!;
    } else {
      // Classes never or rarely predicted are merged as sparse levels are (chi-square needs no empty column).
      const buckets = categoricalBuckets(baselineCounts, currentCounts, o.mergeBelow);
      const chi = buckets.baseline.length < 2 ? { statistic: 0, dof: 0, pValue: 1 } : chiSquareContingency([buckets.baseline, buckets.current], false);
      statistic = chi.statistic;
      dof = chi.dof;
      pValue = chi.pValue;
      effect = shareEffects(buckets, { name: 'linf', threshold: o.classShareThreshold }, null)[0]!;
    }
    shares = { pValue, gate: effect.value >= effect.threshold, adjusted: null };
    classShares = { ...sharesBase, statistic, dof, pValue, adjustedPValue: null, effect, verdict: 'no_drift' };
  }
  return { drift: { kind: 'classification', score: scoreDrift, classShares }, score, psi, shares, sufficient };
}

function resolve(options: DriftOptions): Resolved {
  const merged = { ...DRIFT_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Resolved;
  if (!(merged.alpha > 0 && merged.alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${merged.alpha}`);
  if (!(merged.minSampleSize >= 1)) throw new RangeError(`minSampleSize must be at least 1, got ${merged.minSampleSize}`);
  if (!(merged.scorePsiWarn <= merged.scorePsiAlert)) {
    throw new RangeError(`scorePsiWarn (${merged.scorePsiWarn}) must not exceed scorePsiAlert (${merged.scorePsiAlert})`);
  }
  // The quality tests keep their own floor (QUALITY_DEFAULTS: 200 labelled or scored rows) unless a
  // floor is asked for: the small-sample calibration here is of the drift family only, and the quality
  // tests, each at its own α outside it, alarm on 4–8% of no-drift windows of 30–200 labelled rows.
  const floor = options.minSampleSize === undefined ? {} : { minSampleSize: options.minSampleSize };
  return { ...merged, quality: { ...QUALITY_DEFAULTS, ...floor, ...(options.quality ?? {}) } };
}

/**
 * Compares a current window with the baseline and decides, per feature, for the predictions, for
 * model quality and for the dataset. Pure and deterministic: same inputs, same report.
 */
export function detectDrift(baseline: Baseline, window: DriftWindow, options: DriftOptions = {}): DriftReport {
  const o = resolve(options);
  if (window.baseline !== baseline && window.baseline.features.length !== baseline.features.length) {
    throw new RangeError(`the window has ${window.baseline.features.length} features, the baseline ${baseline.features.length}`);
  }
  const assessed = baseline.features.map((profile, i) => {
    const column = window.columns[i]!;
    let distribution: Assessed;
    if (profile.kind === 'numeric' && column.kind === 'numeric') distribution = assessNumeric(profile, column, o);
    else if (profile.kind === 'categorical' && column.kind === 'categorical') distribution = assessCategorical(profile, column, o);
    else throw new RangeError(`feature "${profile.name}" is ${profile.kind} in the baseline but ${column.kind} in the window`);
    const missing = assessMissing({ missing: profile.missing, rows: profile.count + profile.missing }, { missing: column.missing, rows: column.count + column.missing }, o);
    return { ...distribution, missing };
  });
  const prediction = assessPrediction(baseline, window, o);

  const family: Pending[] = assessed.flatMap((a) => [a.pending, a.missing.pending].filter((t): t is Pending => t !== null));
  if (prediction?.score) family.push(prediction.score);
  if (prediction?.shares) family.push(prediction.shares);
  const raw = family.map((t) => t.pValue!);
  const adjusted = o.correction === 'bonferroni' ? bonferroni(raw) : o.correction === 'benjamini-hochberg' ? benjaminiHochberg(raw) : raw;
  family.forEach((t, i) => (t.adjusted = adjusted[i]!));
  const significant = (t: Pending | null): boolean => t !== null && t.adjusted !== null && t.adjusted < o.alpha;
  const decide = (t: Pending | null): Verdict => (significant(t) && t!.gate ? 'drift' : 'no_drift');

  const features: FeatureDrift[] = assessed.map(({ feature, pending, missing }) => ({
    ...feature,
    adjustedPValue: pending?.adjusted ?? null,
    verdict: feature.verdict ?? decide(pending),
    missingRate: missing.missingRate,
    missing: { ...missing.missing, adjustedPValue: missing.pending?.adjusted ?? null, verdict: missing.missing.verdict ?? decide(missing.pending) },
  }));

  let predictionDrift: PredictionDrift | null = null;
  const warnings: string[] = [];
  if (prediction) {
    const { drift, score, psi, shares } = prediction;
    const { thresholds } = drift.score;
    let status = drift.score.status;
    if (score && psi !== null) status = significant(score) ? (psi >= thresholds.alert ? 'alert' : psi >= thresholds.warn ? 'warn' : 'ok') : 'ok';
    const classShares = drift.classShares && {
      ...drift.classShares,
      adjustedPValue: shares?.adjusted ?? null,
      verdict: shares ? decide(shares) : drift.classShares.verdict,
    };
    const sharesDrift = classShares?.verdict === 'drift';
    const verdict =
      status === 'insufficient_data' && (!classShares || classShares.verdict === 'insufficient_data')
        ? 'insufficient_data'
        : sharesDrift || status === 'alert'
          ? 'drift'
          : status === 'warn'
            ? 'warn'
            : 'no_drift';
    if (status === 'warn') warnings.push(`prediction score PSI ${psi!.toFixed(3)} is at or above the warning level ${thresholds.warn.toFixed(3)}`);
    predictionDrift = { ...drift, verdict, score: { ...drift.score, status, adjustedPValue: score?.adjusted ?? null }, classShares };
  }

  for (const f of features) {
    const unseen = f.unseenShare?.current;
    if (unseen !== null && unseen !== undefined && unseen > 0 && unseen >= (f.unseenShare?.baseline ?? 0) + o.mergeBelow) {
      warnings.push(`feature "${f.name}": ${(unseen * 100).toFixed(1)}% of values are outside the baseline's levels`);
    }
  }

  const drifted = features.filter((f) => f.verdict === 'drift').map((f) => f.name);
  const missingDrifted = features.some((f) => f.missing?.verdict === 'drift');
  const predictionDrifted = predictionDrift?.verdict === 'drift';
  const decidable = baseline.rows >= o.minSampleSize && window.rows >= o.minSampleSize;
  const verdict: Verdict = !decidable ? 'insufficient_data' : drifted.length > 0 || missingDrifted || predictionDrifted ? 'drift' : 'no_drift';
  const quality = assessQuality(baseline, window, o.quality);
  if (quality?.estimated?.alarm) warnings.push(`estimated accuracy (CBPE) ${quality.estimated.estimate!.toFixed(3)} is below the reference ${quality.estimated.reference.toFixed(3)}`);
  const multivariate = assessMultivariate(baseline, window.reconstruction, o.multivariateAlpha, o.minSampleSize);
  if (multivariate?.verdict === 'drift') {
    warnings.push(`multivariate: the mean PCA reconstruction error ${multivariate.currentError!.toFixed(3)} is above the baseline's ${multivariate.baselineError.toFixed(3)} (p = ${multivariate.pValue!.toPrecision(2)}): the features' joint structure changed`);
  }
  const { quality: qualitySettings, ...settings } = o;
  return {
    schemaVersion: 1,
    dataset: {
      verdict,
      alert: verdict === 'drift',
      driftedFeatures: drifted,
      driftedShare: features.length ? drifted.length / features.length : 0,
      testedFeatures: features.filter((f) => f.verdict !== 'insufficient_data').length,
      insufficientFeatures: features.filter((f) => f.verdict === 'insufficient_data').map((f) => f.name),
      predictionDrift: predictionDrifted,
      warnings,
    },
    sampleSizes: { baselineRows: baseline.rows, currentRows: window.rows, scoredRows: window.scoredRows, labeledRows: window.labels?.rows ?? 0 },
    multipleTesting: { correction: o.correction, alpha: o.alpha, tests: family.length },
    features,
    prediction: predictionDrift,
    quality,
    multivariate,
    settings: { ...settings, quality: qualitySettings },
  };
}

/** Convenience for a window that fits in memory: builds the window from encoded rows and detects. */
export function detectDriftOnRows(
  baseline: Baseline,
  x: ArrayLike<number>,
  rows: number,
  extras: { scores?: ScoreRows; labels?: ArrayLike<number>; window?: WindowOptions } = {},
  options: DriftOptions = {},
): DriftReport {
  const window = new DriftWindow(baseline, extras.window);
  window.addRows(x, rows, extras.scores, extras.labels);
  return detectDrift(baseline, window, options);
}

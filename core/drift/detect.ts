import type { Baseline, CategoricalProfile, NumericProfile } from './baseline';
import { assessQuality, QUALITY_DEFAULTS, type QualityOptions } from './quality';
import type { DriftReport, Effect, FeatureDrift, Histogram, PredictionDrift, Verdict } from './report';
import {
  benjaminiHochberg,
  bonferroni,
  chiSquareContingency,
  jensenShannonDistance,
  ks2Samp,
  linfDistance,
  populationStabilityIndex,
  sortedCopy,
  twoProportionZTest,
  wassersteinDistance,
} from './stats';
import { type CategoricalWindowColumn, DriftWindow, type NumericWindowColumn, type ScoreRows, type WindowOptions } from './window';

/**
 * Drift decisions: baseline profile + current window → DriftReport.
 *
 * A feature drifts when BOTH
 *  1. its test rejects "same distribution" after a multiple-testing correction across every test in
 *     the report (features and predictions; Bonferroni at family-wise α = 0.05 by default, or
 *     Benjamini–Hochberg), and
 *  2. an effect size shows the change is material (the gate), so that a large window does not alarm
 *     on shifts too small to matter, however significant.
 * Because the gate only removes rejections, the chance of any false alarm over the whole report is
 * still at most α (Bonferroni: the family-wise error rate; BH: under the global null FDR = FWER).
 *
 * Tests and gates (defaults, see DRIFT_DEFAULTS):
 *  - numeric: two-sample Kolmogorov–Smirnov of the window sample against the baseline sample; gate
 *    PSI on the baseline deciles ≥ 0.1 (the conventional "moderate shift") OR Wasserstein-1 / baseline
 *    σ ≥ 0.1 (a tenth of a standard deviation). A 0.2σ mean shift gives W/σ ≈ 0.2 and passes; a 0.02σ
 *    shift measured 0.015–0.055 on 100,000 rows (the shift plus the baseline sample's own noise) and
 *    is held back at any n; PSI catches changes of shape (spread, bimodality) that move mass but not far;
 *  - categorical (levels with < 1% share on both sides pooled, so every cell has a workable expected
 *    count): chi-square test of homogeneity of the baseline and current counts; gate L∞ of the shares
 *    ≥ 0.05 OR Jensen–Shannon distance (base 2) ≥ 0.1. A "10-point" change of one share measures
 *    L∞ ≈ 0.10 ± 0.016 at 1,000 vs 5,000 rows, so a 0.1 threshold would miss half of them: 0.05 sits
 *    three standard errors below, missing ~0.1%, while 1-point changes (L∞ ≈ 0.01–0.02) stay far below.
 *    The JS gate catches diffuse change spread over many levels (a 10-point change alone is JS ≈ 0.09);
 *  - binary (two levels, or a numeric column with two values in the baseline): two-proportion z-test,
 *    gate |Δ share| ≥ 0.05 (the same L∞);
 *  - predictions: the score (positive-class or top-class probability, or the regression value) by KS,
 *    with PSI as its severity: warn at 0.1, alert at 0.25 (only the alert raises the alarm); the
 *    predicted class shares by chi-square with gate L∞ ≥ 0.1. For a binary model the class shares are
 *    the positive-prediction rate, tested by the two-proportion z-test with gate |Δ rate| ≥ 0.05: a
 *    0.20→0.35 change measures 0.15 ± 0.016 against a baseline rate that is itself a sample, and with a
 *    0.1 gate ~0.5% of such windows were missed in calibration; 0.05 misses none and is still 3.5
 *    standard errors above the no-drift noise at 1,000 rows (and 5 points of positive rate matter);
 *  - fewer than `minSampleSize` (200) non-missing values on either side: 'insufficient_data', no test.
 * Missing rates and unseen-level shares are always reported (and a rise of either by the L∞ threshold
 * or the merge share adds a warning); unseen levels also enter the categorical test (as their own
 * bucket once they reach 1%). Missing values are left out of the tests.
 */

export interface DriftOptions {
  /** Family-wise significance level (Bonferroni) or false-discovery rate (BH). @default 0.05 */
  readonly alpha?: number;
  /** Multiple-testing correction across all tests of a report. @default 'bonferroni' */
  readonly correction?: 'bonferroni' | 'benjamini-hochberg' | 'none';
  /** Fewest non-missing values on each side for a test; below it the verdict is 'insufficient_data'. @default 200 */
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
  /** Prediction score PSI that warns. @default 0.1 */
  readonly scorePsiWarn?: number;
  /** Prediction score PSI that alerts (raises the alarm). @default 0.25 */
  readonly scorePsiAlert?: number;
  /** Predicted-class-share gate of multiclass models: L∞ of the class shares. @default 0.1 */
  readonly classShareThreshold?: number;
  /** Gate of binary models: absolute change of the positive-prediction rate. @default 0.05 */
  readonly positiveRateThreshold?: number;
  /** Model-quality settings. */
  readonly quality?: QualityOptions;
}

export const DRIFT_DEFAULTS = {
  alpha: 0.05,
  correction: 'bonferroni',
  minSampleSize: 200,
  psiThreshold: 0.1,
  wassersteinStdThreshold: 0.1,
  linfThreshold: 0.05,
  jensenShannonThreshold: 0.1,
  mergeBelow: 0.01,
  scorePsiWarn: 0.1,
  scorePsiAlert: 0.25,
  classShareThreshold: 0.1,
  positiveRateThreshold: 0.05,
} as const;

type Resolved = Required<Omit<DriftOptions, 'quality'>> & { quality: QualityOptions };

const UNSEEN = '(unseen)';

/** Baseline samples sorted once per profile object (the monitor reuses one baseline for many windows). */
const sortedSamples = new WeakMap<NumericProfile, Float64Array>();

function sortedSample(profile: NumericProfile): Float64Array {
  let sorted = sortedSamples.get(profile);
  if (!sorted) {
    sorted = sortedCopy(profile.sample.filter((v) => Number.isFinite(v)));
    sortedSamples.set(profile, sorted);
  }
  return sorted;
}

/** A test awaiting the family-wide correction. */
interface Pending {
  pValue: number | null;
  gate: boolean;
  adjusted: number | null;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const rate = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

/** The gating effect: the one largest relative to its threshold. */
function decisive(effects: Effect[]): Effect | null {
  let best: Effect | null = null;
  for (const e of effects) if (!best || e.value / e.threshold > best.value / best.threshold) best = e;
  return best;
}

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

interface Assessed {
  feature: Omit<FeatureDrift, 'adjustedPValue' | 'verdict'> & { verdict: Verdict | null };
  pending: Pending | null;
}

function insufficient(feature: Assessed['feature']): Assessed {
  return { feature: { ...feature, verdict: 'insufficient_data', statistic: null, pValue: null, dof: null, effect: null, effects: [] }, pending: null };
}

function assessNumeric(profile: NumericProfile, column: NumericWindowColumn, o: Resolved): Assessed {
  if (column.binary) return assessBinaryNumeric(profile, column, o);
  const base = {
    name: profile.name,
    kind: 'numeric' as const,
    test: 'ks' as const,
    counts: { baseline: profile.count, current: column.count },
    missingRate: { baseline: rate(profile.missing, profile.count + profile.missing), current: rate(column.missing, column.count + column.missing) },
    unseenShare: null,
    histogram: binsHistogram(profile, column),
    summary: numericSummaries(profile, column),
  };
  const baselineSample = sortedSample(profile);
  if (profile.count < o.minSampleSize || column.count < o.minSampleSize || baselineSample.length < o.minSampleSize) {
    return insufficient({ ...base, statistic: null, dof: null, pValue: null, effect: null, effects: [], verdict: null });
  }
  const current = sortedCopy(column.reservoir.sample());
  const ks = ks2Samp(baselineSample, current, { sorted: true });
  const psi = populationStabilityIndex(profile.binShares, base.histogram.current);
  // A constant baseline has no spread to scale by; then the distance is read in the feature's own units.
  const scale = profile.std > 0 ? profile.std : 1;
  const wStd = wassersteinDistance(baselineSample, current, { sorted: true }) / scale;
  const effects: Effect[] = [
    { name: 'psi', value: psi, threshold: o.psiThreshold },
    { name: 'wasserstein_std', value: wStd, threshold: o.wassersteinStdThreshold },
  ];
  return {
    feature: { ...base, statistic: ks.statistic, dof: null, pValue: ks.pValue, effect: decisive(effects), effects, verdict: null },
    pending: { pValue: ks.pValue, gate: effects.some((e) => e.value >= e.threshold), adjusted: null },
  };
}

/** Two-proportion test of the share of the higher value of a two-valued numeric column (0/1 flags). */
function assessBinaryNumeric(profile: NumericProfile, column: NumericWindowColumn, o: Resolved): Assessed {
  const binary = column.binary!;
  const baselineHigh = profile.sample.filter((v) => v === binary.high).length;
  const baselineN = profile.sample.length;
  const currentN = binary.lowCount + binary.highCount;
  const labels = [String(binary.low), String(binary.high)];
  const baseShare = baselineN ? baselineHigh / baselineN : 0;
  const currentShare = currentN ? binary.highCount / currentN : 0;
  const base = {
    name: profile.name,
    kind: 'binary' as const,
    test: 'two_proportion_z' as const,
    counts: { baseline: baselineN, current: currentN },
    missingRate: { baseline: rate(profile.missing, profile.count + profile.missing), current: rate(column.missing, column.count + column.missing) },
    unseenShare: { baseline: 0, current: rate(binary.otherCount, column.count) },
    histogram: { type: 'levels' as const, labels, baseline: [1 - baseShare, baseShare], current: currentN ? [1 - currentShare, currentShare] : [0, 0] },
    summary: numericSummaries(profile, column),
  };
  if (baselineN < o.minSampleSize || currentN < o.minSampleSize) {
    return insufficient({ ...base, statistic: null, dof: null, pValue: null, effect: null, effects: [], verdict: null });
  }
  const z = twoProportionZTest(baselineHigh, baselineN, binary.highCount, currentN);
  const effects: Effect[] = [{ name: 'linf', value: Math.abs(z.difference), threshold: o.linfThreshold }];
  return {
    feature: { ...base, statistic: z.statistic, dof: null, pValue: z.pValue, effect: effects[0]!, effects, verdict: null },
    pending: { pValue: z.pValue, gate: effects[0]!.value >= o.linfThreshold, adjusted: null },
  };
}

/**
 * Buckets for the categorical test: every level (and the unseen bucket) reaching `mergeBelow` on
 * either side stays; the rest are pooled into one "other" bucket, itself folded into the smallest
 * bucket when still under `mergeBelow` on both sides. Returns baseline and current counts per bucket.
 */
function categoricalBuckets(baselineCounts: number[], currentCounts: number[], mergeBelow: number): { baseline: number[]; current: number[] } {
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
  return { baseline, current };
}

function assessCategorical(profile: CategoricalProfile, column: CategoricalWindowColumn, o: Resolved): Assessed {
  const levels = profile.levels.length;
  const currentCount = column.count;
  const baselineCounts = [...profile.shares, profile.unseenShare].map((s) => Math.round(s * profile.count));
  const currentCounts = Array.from(column.counts);
  const isBinary = levels === 2;
  const base = {
    name: profile.name,
    kind: isBinary ? ('binary' as const) : ('categorical' as const),
    counts: { baseline: profile.count, current: currentCount },
    missingRate: { baseline: rate(profile.missing, profile.count + profile.missing), current: rate(column.missing, currentCount + column.missing) },
    unseenShare: { baseline: profile.unseenShare, current: rate(column.counts[levels]!, currentCount) },
    histogram: {
      type: 'levels' as const,
      labels: [...profile.levels, UNSEEN],
      baseline: [...profile.shares, profile.unseenShare],
      current: currentCounts.map((c) => (currentCount ? c / currentCount : 0)),
    },
    summary: null,
  };
  if (profile.count < o.minSampleSize || currentCount < o.minSampleSize) {
    return insufficient({ ...base, test: isBinary ? 'two_proportion_z' : 'chi_square', statistic: null, dof: null, pValue: null, effect: null, effects: [], verdict: null });
  }
  const buckets = categoricalBuckets(baselineCounts, currentCounts, o.mergeBelow);
  const bTotal = buckets.baseline.reduce((s, v) => s + v, 0);
  const cTotal = buckets.current.reduce((s, v) => s + v, 0);
  const bShares = buckets.baseline.map((v) => v / bTotal);
  const cShares = buckets.current.map((v) => v / cTotal);
  if (buckets.baseline.length < 2) {
    // One bucket: every value in the same level on both sides; nothing can have moved.
    return {
      feature: { ...base, test: 'none', statistic: null, dof: null, pValue: null, effect: null, effects: [], verdict: 'no_drift' },
      pending: null,
    };
  }
  const effects: Effect[] = [
    { name: 'linf', value: linfDistance(bShares, cShares), threshold: o.linfThreshold },
    ...(buckets.baseline.length > 2 ? [{ name: 'jensen_shannon', value: jensenShannonDistance(bShares, cShares), threshold: o.jensenShannonThreshold }] : []),
  ];
  const gate = effects.some((e) => e.value >= e.threshold);
  if (buckets.baseline.length === 2) {
    const z = twoProportionZTest(buckets.baseline[1]!, bTotal, buckets.current[1]!, cTotal);
    return {
      feature: { ...base, test: 'two_proportion_z', statistic: z.statistic, dof: null, pValue: z.pValue, effect: decisive(effects), effects, verdict: null },
      pending: { pValue: z.pValue, gate, adjusted: null },
    };
  }
  const chi = chiSquareContingency([buckets.baseline, buckets.current], false);
  return {
    feature: { ...base, test: 'chi_square', statistic: chi.statistic, dof: chi.dof, pValue: chi.pValue, effect: decisive(effects), effects, verdict: null },
    pending: { pValue: chi.pValue, gate, adjusted: null },
  };
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
  const baselineSample = sortedSample(profile);
  const sufficient = profile.count >= o.minSampleSize && column.count >= o.minSampleSize && baselineSample.length >= o.minSampleSize;
  const histogram = binsHistogram(profile, column);
  let score: Pending | null = null;
  let psi: number | null = null;
  let ksStatistic: number | null = null;
  let ksP: number | null = null;
  if (sufficient) {
    const ks = ks2Samp(baselineSample, sortedCopy(column.reservoir.sample()), { sorted: true });
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
    thresholds: { warn: o.scorePsiWarn, alert: o.scorePsiAlert },
    histogram,
  };
  if (prediction.kind === 'regression') {
    return { drift: { kind: 'regression', score: scoreDrift, classShares: null }, score, psi, shares: null, sufficient };
  }
  const classes = prediction.classes;
  const scored = Array.from(window.classCounts).reduce((s, v) => s + v, 0);
  const baselineScored = profile.count;
  const baselineCounts = prediction.classShares.map((s) => Math.round(s * baselineScored));
  const currentShares = Array.from(window.classCounts, (c) => (scored ? c / scored : 0));
  const binary = classes.length === 2;
  const sharesBase = {
    classes: [...classes],
    baseline: [...prediction.classShares],
    current: currentShares,
    positiveRate: binary ? { baseline: prediction.classShares[1]!, current: scored ? currentShares[1]! : null } : null,
  };
  let shares: Pending | null = null;
  let classShares: PredictionDrift['classShares'];
  const enough = baselineScored >= o.minSampleSize && scored >= o.minSampleSize;
  if (!enough) {
    classShares = { ...sharesBase, test: binary ? 'two_proportion_z' : 'chi_square', statistic: null, dof: null, pValue: null, adjustedPValue: null, effect: null, verdict: 'insufficient_data' };
  } else {
    const effect: Effect = {
      name: binary ? 'positive_rate_change' : 'linf',
      value: linfDistance(prediction.classShares, currentShares),
      threshold: binary ? o.positiveRateThreshold : o.classShareThreshold,
    };
    // Drop classes never predicted on either side (chi-square needs no empty column).
    const kept = baselineCounts.map((b, k) => [b, window.classCounts[k]!] as const).filter(([b, c]) => b + c > 0);
    let statistic: number;
    let dof: number | null = null;
    let pValue: number;
    if (binary) {
      const z = twoProportionZTest(baselineCounts[1]!, baselineCounts[0]! + baselineCounts[1]!, window.classCounts[1]!, scored);
      statistic = z.statistic;
      pValue = z.pValue;
    } else if (kept.length < 2) {
      statistic = 0;
      dof = 0;
      pValue = 1;
    } else {
      const chi = chiSquareContingency([kept.map(([b]) => b), kept.map(([, c]) => c)], false);
      statistic = chi.statistic;
      dof = chi.dof;
      pValue = chi.pValue;
    }
    shares = { pValue, gate: effect.value >= effect.threshold, adjusted: null };
    classShares = { ...sharesBase, test: binary ? 'two_proportion_z' : 'chi_square', statistic, dof, pValue, adjustedPValue: null, effect, verdict: 'no_drift' };
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
  return { ...merged, quality: { ...QUALITY_DEFAULTS, minSampleSize: merged.minSampleSize, ...(options.quality ?? {}) } };
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
    if (profile.kind === 'numeric' && column.kind === 'numeric') return assessNumeric(profile, column, o);
    if (profile.kind === 'categorical' && column.kind === 'categorical') return assessCategorical(profile, column, o);
    throw new RangeError(`feature "${profile.name}" is ${profile.kind} in the baseline but ${column.kind} in the window`);
  });
  const prediction = assessPrediction(baseline, window, o);

  const family: Pending[] = assessed.flatMap((a) => (a.pending ? [a.pending] : []));
  if (prediction?.score) family.push(prediction.score);
  if (prediction?.shares) family.push(prediction.shares);
  const raw = family.map((t) => t.pValue!);
  const adjusted = o.correction === 'bonferroni' ? bonferroni(raw) : o.correction === 'benjamini-hochberg' ? benjaminiHochberg(raw) : raw;
  family.forEach((t, i) => (t.adjusted = adjusted[i]!));
  const significant = (t: Pending | null): boolean => t !== null && t.adjusted !== null && t.adjusted < o.alpha;

  const features: FeatureDrift[] = assessed.map(({ feature, pending }) => ({
    ...feature,
    adjustedPValue: pending?.adjusted ?? null,
    verdict: feature.verdict ?? (significant(pending) && pending!.gate ? 'drift' : 'no_drift'),
  }));

  let predictionDrift: PredictionDrift | null = null;
  const warnings: string[] = [];
  if (prediction) {
    const { drift, score, psi, shares } = prediction;
    let status = drift.score.status;
    if (score && psi !== null) status = significant(score) ? (psi >= o.scorePsiAlert ? 'alert' : psi >= o.scorePsiWarn ? 'warn' : 'ok') : 'ok';
    const classShares = drift.classShares && {
      ...drift.classShares,
      adjustedPValue: shares?.adjusted ?? null,
      verdict: shares ? (significant(shares) && shares.gate ? ('drift' as const) : ('no_drift' as const)) : drift.classShares.verdict,
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
    if (status === 'warn') warnings.push(`prediction score PSI ${psi!.toFixed(3)} is at or above the warning level ${o.scorePsiWarn}`);
    predictionDrift = { ...drift, verdict, score: { ...drift.score, status, adjustedPValue: score?.adjusted ?? null }, classShares };
  }

  for (const f of features) {
    const unseen = f.unseenShare?.current;
    if (unseen !== null && unseen !== undefined && unseen > 0 && unseen >= (f.unseenShare?.baseline ?? 0) + o.mergeBelow) {
      warnings.push(`feature "${f.name}": ${(unseen * 100).toFixed(1)}% of values are outside the baseline's levels`);
    }
    // Missing rates are not tested (imputation makes them a data-quality matter), but a jump is worth a line.
    const { baseline: missingBefore, current: missingNow } = f.missingRate;
    if (missingNow !== null && missingBefore !== null && window.rows >= o.minSampleSize && missingNow - missingBefore >= o.linfThreshold) {
      warnings.push(`feature "${f.name}": missing rate rose from ${(missingBefore * 100).toFixed(1)}% to ${(missingNow * 100).toFixed(1)}%`);
    }
  }

  const drifted = features.filter((f) => f.verdict === 'drift').map((f) => f.name);
  const predictionDrifted = predictionDrift?.verdict === 'drift';
  const verdict: Verdict = window.rows < o.minSampleSize ? 'insufficient_data' : drifted.length > 0 || predictionDrifted ? 'drift' : 'no_drift';
  const quality = assessQuality(baseline, window, o.quality);
  if (quality?.estimated?.alarm) warnings.push(`estimated accuracy (CBPE) ${quality.estimated.estimate!.toFixed(3)} is below the reference ${quality.estimated.reference.toFixed(3)}`);
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

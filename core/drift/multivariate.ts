import type { Baseline, MultivariateProfile } from './baseline';
import { normalSf } from './special';
import { Random } from '../random';
import type { MultivariateDrift } from './report';

/**
 * Multivariate drift by PCA reconstruction error, as NannyML's DataReconstructionDriftCalculator:
 * standardize the numeric features with the baseline's mean and standard deviation, project each row
 * on the baseline's leading principal components (enough to explain `varianceKept`, 65% by default),
 * map it back, and measure the Euclidean distance between the row and its reconstruction. A change of
 * the features' joint structure (a correlation that flips or vanishes) raises the error even when every
 * marginal distribution is unchanged, where the per-feature tests cannot see it.
 *
 * Baseline side (BaselineBuilder, one pass over the rows): the rows complete in every numeric feature
 * are split by a fair coin into a fit half — Welford's streaming mean and co-moment matrix (B. P. Welford
 * (1962), Technometrics 4(3), in its multivariate form) — and a reference half, kept as a uniform
 * reservoir (Algorithm R). At finish: the fit half's correlation matrix, its eigenvectors (cyclic
 * Jacobi), and the per-row errors of the reference rows, whose mean ē_b and standard deviation s_b are
 * stored with the n_b rows they came from. The reference rows are out of sample for the PCA exactly as
 * a window's rows are, so under no drift both are i.i.d. draws of the same error distribution.
 *
 * Test (one-sided, a rise of the error): Mann–Whitney U of the window's errors against the reference
 * errors, which the profile keeps sorted. Each window row adds its placement (reference errors below it,
 * ties half) to U as it streams by, so no window row is kept; under no drift E[U] = n_w n_b / 2 and
 * Var U = n_w n_b (n_w + n_b + 1) / 12, and z (with a continuity correction) is referred to the normal
 * upper tail. A rank test, because the error inherits the features' tails: a z-test of the mean error
 * against the reference mean and standard deviation rejected 6.2–7.3% of no-drift windows over fresh
 * baselines at α = 5% (the lognormal and exponential features make the mean's distribution skewed and
 * the standard deviation an underestimate), where ranks do not care about tails. The effect reported is
 * U / (n_w n_b), the chance that a window row's error exceeds a baseline row's (0.5 under no drift),
 * and its threshold the value at which p = α. The test stands outside the per-feature Bonferroni family
 * and does not raise the dataset alarm (see detect.ts).
 */

/** Share of the standardized features' total variance the kept components explain. */
export const DEFAULT_VARIANCE_KEPT = 0.65;

/** Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method; eigenvalues descending, vectors as rows. */
export function symmetricEigen(matrix: readonly (readonly number[])[]): { values: number[]; vectors: number[][] } {
  const p = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) off += a[i]![j]! ** 2;
    if (off < 1e-22) break;
    for (let i = 0; i < p; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = a[i]![j]!;
        if (Math.abs(aij) < 1e-300) continue;
        const theta = (a[j]![j]! - a[i]![i]!) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < p; k++) {
          const aki = a[k]![i]!;
          const akj = a[k]![j]!;
          a[k]![i] = c * aki - s * akj;
          a[k]![j] = s * aki + c * akj;
        }
        for (let k = 0; k < p; k++) {
          const aik = a[i]![k]!;
          const ajk = a[j]![k]!;
          a[i]![k] = c * aik - s * ajk;
          a[j]![k] = s * aik + c * ajk;
        }
        for (let k = 0; k < p; k++) {
          const vki = v[k]![i]!;
          const vkj = v[k]![j]!;
          v[k]![i] = c * vki - s * vkj;
          v[k]![j] = s * vki + c * vkj;
        }
      }
    }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => a[y]![y]! - a[x]![x]!);
  return { values: order.map((i) => a[i]![i]!), vectors: order.map((i) => v.map((row) => row[i]!)) };
}

/** Reconstruction error ‖z − VᵀVz‖ of one row of raw values (complete), standardized with the profile's mean and scale. */
export function reconstructionError(profile: Pick<MultivariateProfile, 'mean' | 'scale' | 'components'>, row: ArrayLike<number>, scratch?: Float64Array): number {
  const p = profile.mean.length;
  const z = scratch ?? new Float64Array(p);
  let total = 0;
  for (let j = 0; j < p; j++) {
    z[j] = (row[j]! - profile.mean[j]!) / profile.scale[j]!;
    total += z[j]! * z[j]!;
  }
  // ‖z − VᵀVz‖² = ‖z‖² − ‖Vz‖² for orthonormal rows V.
  let projected = 0;
  for (const component of profile.components) {
    let score = 0;
    for (let j = 0; j < p; j++) score += component[j]! * z[j]!;
    projected += score * score;
  }
  return Math.sqrt(Math.max(0, total - projected));
}

/** Streams the complete rows of the numeric features: mean, co-moments and a row reservoir. */
export class PcaAccumulator {
  private rows = 0;
  private referenceSeen = 0;
  private readonly mean: Float64Array;
  private readonly comoment: Float64Array;
  private readonly reservoir: Float64Array[] = [];
  private readonly delta: Float64Array;
  private readonly random: Random;

  constructor(
    readonly columns: readonly number[],
    readonly names: readonly string[],
    private readonly capacity = 5000,
    seed = 11,
  ) {
    const p = columns.length;
    this.mean = new Float64Array(p);
    this.comoment = new Float64Array(p * p);
    this.delta = new Float64Array(p);
    this.random = new Random(seed);
  }

  /**
   * Adds one row of the full encoded row-major matrix (`offset`: its first value); rows with a missing
   * feature are skipped. Each complete row goes, by a fair coin, either to the fit (the streaming
   * moments the PCA is computed from) or to the reference (the rows whose errors make the baseline's
   * error distribution), so the reference errors are out of sample, as a window's are. In sample they
   * are biased low: the discarded components are the directions of least sample variance, and with a
   * flat spectrum (13 independent features, 1,000 rows) that made 98% of no-drift windows reject.
   */
  add(x: ArrayLike<number>, offset: number): void {
    const p = this.columns.length;
    for (let j = 0; j < p; j++) if (!Number.isFinite(x[offset + this.columns[j]!]!)) return;
    if (this.random.next() < 0.5) {
      this.addReference(x, offset);
      return;
    }
    this.rows++;
    const n = this.rows;
    const d = this.delta;
    for (let j = 0; j < p; j++) {
      d[j] = x[offset + this.columns[j]!]! - this.mean[j]!;
      this.mean[j]! += d[j]! / n;
    }
    // C += (n − 1)/n · d dᵀ (d taken before the mean update).
    const w = (n - 1) / n;
    for (let i = 0; i < p; i++) for (let j = i; j < p; j++) this.comoment[i * p + j]! += w * d[i]! * d[j]!;
  }

  private addReference(x: ArrayLike<number>, offset: number): void {
    this.referenceSeen++;
    const row = Float64Array.from(this.columns, (c) => x[offset + c]!);
    if (this.reservoir.length < this.capacity) this.reservoir.push(row);
    else {
      const k = Math.floor(this.random.next() * this.referenceSeen);
      if (k < this.capacity) this.reservoir[k] = row;
    }
  }

  /** The PCA profile, or undefined with fewer than two usable features or too few complete rows. */
  finish(varianceKept = DEFAULT_VARIANCE_KEPT, minRows = 30): MultivariateProfile | undefined {
    const p = this.columns.length;
    if (this.rows < Math.max(minRows, p + 2) || this.reservoir.length < minRows) return undefined;
    const scale = Array.from({ length: p }, (_, j) => Math.sqrt(this.comoment[j * p + j]! / (this.rows - 1)));
    const keep = scale.map((s) => s > 0 && Number.isFinite(s));
    const idx = keep.flatMap((k, j) => (k ? [j] : []));
    if (idx.length < 2) return undefined;
    const q = idx.length;
    const correlation = idx.map((i) =>
      idx.map((j) => {
        const [a, b] = i <= j ? [i, j] : [j, i];
        return this.comoment[a * p + b]! / (this.rows - 1) / (scale[i]! * scale[j]!);
      }),
    );
    const { values, vectors } = symmetricEigen(correlation);
    const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
    let kept = 0;
    let explained = 0;
    while (kept < q - 1 && explained < varianceKept * total) explained += Math.max(values[kept++]!, 0);
    const profile = {
      method: 'pca_reconstruction' as const,
      features: idx.map((j) => this.names[j]!),
      mean: idx.map((j) => this.mean[j]!),
      scale: idx.map((j) => scale[j]!),
      components: vectors.slice(0, kept),
      varianceExplained: total > 0 ? explained / total : 0,
    };
    const scratch = new Float64Array(q);
    const sub = new Float64Array(q);
    let sum = 0;
    let squares = 0;
    const errors: number[] = [];
    for (const row of this.reservoir) {
      for (let k = 0; k < q; k++) sub[k] = row[idx[k]!]!;
      const e = reconstructionError(profile, sub, scratch);
      errors.push(e);
      sum += e;
      squares += e * e;
    }
    const n = this.reservoir.length;
    const errorMean = sum / n;
    const errorStd = Math.sqrt(Math.max(0, (squares - n * errorMean * errorMean) / (n - 1)));
    // Seven significant digits keep baseline.json small; a tie that the rounding makes counts half, as any tie.
    const sorted = Float64Array.from(errors, (e) => Number(e.toPrecision(7))).sort();
    return { ...profile, referenceError: { mean: errorMean, std: errorStd, rows: n, sorted: Array.from(sorted) } };
  }
}

/** Reference errors below `e`, ties counting half: a window row's contribution to Mann–Whitney U. */
function placement(sorted: readonly number[], e: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < e) lo = mid + 1;
    else hi = mid;
  }
  let equal = lo;
  while (equal < sorted.length && sorted[equal] === e) equal++;
  return lo + (equal - lo) / 2;
}

/**
 * The window's reconstruction errors as its rows arrive (DriftWindow feeds it): their sum (for the
 * mean shown in the report) and their placements among the baseline's errors (Mann–Whitney U), so no
 * row needs keeping and the test sees every complete row of a window of any size. A row missing a
 * value of a PCA feature is left out of this test only.
 */
export class ReconstructionErrors {
  sum = 0;
  count = 0;
  /** Σ placements: the Mann–Whitney U of the window's errors against the reference errors. */
  u = 0;
  private readonly columns: number[];
  private readonly row: Float64Array;
  private readonly scratch: Float64Array;

  constructor(
    private readonly profile: MultivariateProfile,
    featureNames: readonly string[],
  ) {
    this.columns = profile.features.map((name) => featureNames.indexOf(name));
    this.row = new Float64Array(profile.features.length);
    this.scratch = new Float64Array(profile.features.length);
  }

  /** Adds the complete rows of a row-major matrix whose columns are the baseline's features. */
  add(x: ArrayLike<number>, rows: number, width: number): void {
    if (this.columns.some((c) => c < 0)) return;
    outer: for (let r = 0; r < rows; r++) {
      for (let k = 0; k < this.columns.length; k++) {
        const v = x[r * width + this.columns[k]!]!;
        if (!Number.isFinite(v)) continue outer;
        this.row[k] = v;
      }
      const e = reconstructionError(this.profile, this.row, this.scratch);
      this.sum += e;
      this.u += placement(this.profile.referenceError.sorted, e);
      this.count++;
    }
  }
}

/** Inverse of the standard normal upper tail by bisection (for the reported threshold). */
function normalIsf(p: number): number {
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (normalSf(mid) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The multivariate section of the report; null when the baseline has no PCA profile (older baselines). */
export function assessMultivariate(baseline: Baseline, errors: ReconstructionErrors | undefined, alpha: number, minRows: number): MultivariateDrift | null {
  const profile = baseline.multivariate;
  if (!profile) return null;
  const reference = profile.referenceError;
  const base = {
    method: profile.method,
    features: [...profile.features],
    components: profile.components.length,
    varianceExplained: profile.varianceExplained,
    baselineError: reference.mean,
    baselineErrorStd: reference.std,
    alpha,
  };
  const current = { mean: errors && errors.count ? errors.sum / errors.count : Number.NaN, count: errors?.count ?? 0 };
  if (current.count < minRows || reference.rows < minRows) {
    return {
      ...base,
      currentError: current.count ? current.mean : null,
      rows: current.count,
      probabilityHigher: null,
      threshold: null,
      statistic: null,
      pValue: null,
      verdict: 'insufficient_data',
      note: null,
    };
  }
  const pairs = current.count * reference.rows;
  const sd = Math.sqrt((pairs * (current.count + reference.rows + 1)) / 12);
  const z = (errors!.u - pairs / 2 - 0.5) / sd;
  const pValue = normalSf(z);
  return {
    ...base,
    currentError: current.mean,
    rows: current.count,
    probabilityHigher: errors!.u / pairs,
    threshold: 0.5 + (normalIsf(alpha) * sd + 0.5) / pairs,
    statistic: z,
    pValue,
    verdict: pValue < alpha ? 'drift' : 'no_drift',
    note: null,
  };
}

/**
 * Special functions behind the drift tests' p-values: log-gamma (and the log binomial coefficients
 * of Fisher's exact test), the regularized incomplete gamma functions (chi-square and normal tails),
 * and the finite-n Kolmogorov and Smirnov distributions used by the two-sample Kolmogorov–Smirnov test.
 *
 * Why hand-written rather than a dependency: the part SciPy parity hinges on — the exact two-sample
 * Smirnov distribution of ks_2samp and scipy.stats.kstwo's choice among exact and asymptotic
 * methods — is in no npm package (stdlib's @stdlib/stats-kstest is one-sample only; jstat and
 * simple-statistics have no Kolmogorov–Smirnov distribution at all). stdlib does have careful gamma
 * functions, but a dependency tree for the ~100 lines of textbook series and continued fraction below,
 * which must be checked against SciPy anyway, is not worth it. Each algorithm cites its source;
 * test/unit/drift-stats.test.ts checks them against SciPy on fixed vectors
 * (test/fixtures/drift/reference.json), where they agree to ~1e-13 relative (kstwo to ~1e-10).
 */

/** exp() of anything below this underflows to 0 (as Cephes' MINLOG). */
const MIN_LOG = -708.3964185322641;
const EPSILON = Number.EPSILON;
const TINY = 1e-300;

/**
 * Lanczos coefficients for g = 7, n = 9 (Godfrey's set, as in Numerical Recipes 2nd ed. §6.1
 * and Boost's lanczos tables): log Γ(x) to ~1e-15 relative for x ≥ 0.5.
 */
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0 (Lanczos approximation; reflection below 0.5). */
export function logGamma(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= 0 && Number.isInteger(x)) return Infinity;
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** log C(n, k), the log binomial coefficient, through log-gamma (scipy.special.gammaln differences, as scipy.stats.hypergeom). */
export function logBinomial(n: number, k: number): number {
  if (k < 0 || k > n) return -Infinity;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** log of x^a e^-x / Γ(a), the common factor of both incomplete-gamma expansions. */
function gammaPrefactorLog(a: number, x: number): number {
  return a * Math.log(x) - x - logGamma(a);
}

/** Series for P(a, x), valid and fast for x < a + 1 (Numerical Recipes 3rd ed. §6.2, gser; Cephes igam). */
function gammaPSeries(a: number, x: number): number {
  let ap = a;
  let term = 1 / a;
  let sum = term;
  for (let n = 0; n < 100_000; n++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(gammaPrefactorLog(a, x));
}

/** Continued fraction for Q(a, x), valid for x ≥ a + 1 (modified Lentz; Numerical Recipes 3rd ed. §6.2, gcf; Cephes igamc). */
function gammaQContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(gammaPrefactorLog(a, x)) * h;
}

/** Regularized lower incomplete gamma P(a, x) = γ(a, x) / Γ(a) (scipy.special.gammainc). */
export function regularizedGammaP(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0 || x < 0) return Number.NaN;
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaPSeries(a, x) : 1 - gammaQContinuedFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), accurate in the far tail (scipy.special.gammaincc). */
export function regularizedGammaQ(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0 || x < 0) return Number.NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQContinuedFraction(a, x);
}

/** Survival function of the chi-square distribution, P(X ≥ x) = Q(k/2, x/2) (scipy.stats.chi2.sf). */
export function chiSquareSf(x: number, dof: number): number {
  if (x <= 0) return 1;
  return regularizedGammaQ(dof / 2, x / 2);
}

/**
 * Standard normal upper tail P(Z ≥ z) (scipy.stats.norm.sf), through erfc(t) = Q(1/2, t²)
 * (Abramowitz & Stegun 6.5.17 and 7.1.2; Numerical Recipes 3rd ed. §6.2.2 computes erffc the same way).
 */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const half = 0.5 * regularizedGammaQ(0.5, (z * z) / 2);
  return z >= 0 ? half : 1 - half;
}

/** Standard normal CDF P(Z ≤ z) (scipy.stats.norm.cdf). */
export function normalCdf(z: number): number {
  return normalSf(-z);
}

function clip01(p: number): number {
  return Math.min(1, Math.max(0, p));
}

/** log(n! / n^n) by Stirling's series with Bernoulli terms (as scipy.stats._ksstats._log_nfactorial_div_n_pow_n). */
function logFactorialOverPower(n: number): number {
  const coefficients = [
    -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
    -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
  ];
  const rn = 1 / n;
  let poly = 0;
  const r2 = rn / n;
  for (const c of coefficients) poly = poly * r2 + c;
  return Math.log(n) / 2 - n + Math.log(2 * Math.PI) / 2 + rn * poly;
}

/**
 * One-sided Kolmogorov–Smirnov (Smirnov) survival function P(D⁺ₙ ≥ x) (scipy.special.smirnov).
 * Birnbaum & Tingey (1951), "One-sided confidence contours for probability distribution functions",
 * Ann. Math. Statist. 22: P(D⁺ₙ ≥ x) = x Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (1−x−v/n)^(n−v) (x+v/n)^(v−1).
 * All terms are positive; they are summed in log space (no cancellation), with SciPy's special
 * cases (x ≤ 1/n, x ≥ 1 − 1/n, n > 10⁶) from van Mulbregt (2018), arXiv:1802.06966.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0) || !(x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const nx = n * x;
  let nxFloor = Math.floor(nx);
  let alpha = nx - nxFloor;
  if (alpha >= 1) {
    nxFloor += 1;
    alpha = 0;
  }
  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) {
    // x ≤ 1/n: P(D⁺ ≤ x) = x (1 + x)^(n−1).
    return 1 - x * Math.pow(1 + x, n - 1);
  }
  if (-2 * n * x * x < MIN_LOG) return 0;
  if (nxFloor >= n - 1) return Math.pow(1 - x, n);
  if (n > 1_000_000) {
    const logp = -Math.pow(6 * n * x + 1, 2) / 18 / n;
    return logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp);
  }
  // Terms v = 0 … n − ⌊nx⌋ − 1, the ones with 1 − x − v/n > 0.
  const last = n - nxFloor - 1;
  const logN1 = logGamma(n + 1);
  const logX = Math.log(x);
  let maxLog = -Infinity;
  const logs = new Float64Array(last + 1);
  for (let v = 0; v <= last; v++) {
    const logChoose = logN1 - logGamma(v + 1) - logGamma(n - v + 1);
    const upper = (n - v) / n - x;
    const lower = x + v / n;
    const term = logChoose + (n - v) * Math.log(upper) + (v - 1) * Math.log(lower) + logX;
    logs[v] = term;
    if (term > maxLog) maxLog = term;
  }
  let sum = 0;
  for (let v = 0; v <= last; v++) sum += Math.exp(logs[v]! - maxLog);
  return clip01(Math.exp(maxLog + Math.log(sum)));
}

/** Square matrix product for the Durbin matrix method. */
function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j]! += aik * b[k * m + j]!;
    }
  }
  return out;
}

const E128 = 2 ** 128;
const EM128 = 2 ** -128;

/**
 * Kolmogorov CDF P(Dₙ ≤ d) by Durbin's matrix method as organized by Marsaglia, Tsang & Wang (2003),
 * "Evaluating Kolmogorov's distribution", J. Stat. Softw. 8(18) (port of scipy.stats._ksstats._kolmogn_DMTW).
 */
function kolmogorovCdfDurbin(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - Math.pow(h, j)) * fac;
  }
  const tt = Math.pow(Math.max(2 * h - 1, 0), m) - 2 * Math.pow(h, m);
  v[m - 1] = (1 + tt) * fac;
  let H: Float64Array<ArrayBuffer> = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;
  let power: Float64Array<ArrayBuffer> = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let nn = n;
  let exponent = 0;
  let hExponent = 0;
  while (nn > 0) {
    if (nn % 2) {
      power = matmul(power, H, m);
      exponent += hExponent;
    }
    H = matmul(H, H, m);
    hExponent *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > E128) {
      for (let i = 0; i < H.length; i++) H[i]! /= E128;
      hExponent += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = power[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      exponent -= 128;
    }
  }
  if (exponent !== 0) p *= Math.pow(2, exponent);
  return clip01(p);
}

function pomeranzBounds(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/**
 * Kolmogorov CDF P(Dₙ ≤ d) by Pomeranz's recursion, J. Pomeranz (1974), "Exact cumulative
 * distribution of the Kolmogorov–Smirnov statistic for small samples", CACM 17(12), Algorithm 487
 * (port of scipy.stats._ksstats._kolmogn_Pomeranz).
 */
function kolmogorovCdfPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let exponent = 0;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * (g / n)) / m;
    twogpower[m] = (twogpower[m - 1]! * ((2 * g) / n)) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * ((1 - 2 * g) / n)) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let [j1, j2] = pomeranzBounds(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzBounds(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]); keep conv[j1 - k1 : j1 - k1 + (j2 - j1 + 1)].
      const start = k1 - V0s;
      const convStart = j1 - k1;
      const convLength = j2 - j1 + 1;
      let max = 0;
      for (let c = 0; c < convLength; c++) {
        const index = convStart + c;
        let s = 0;
        for (let a = Math.max(0, index - (ln2 - 1)); a <= Math.min(index, ln2 - 1); a++) s += (V0[start + a] ?? 0) * pwrs[index - a]!;
        V1[c] = s;
        if (s > max) max = s;
      }
      if (max > 0 && max < EM128) {
        for (let c = 0; c < V1.length; c++) V1[c]! *= E128;
        exponent -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let answer = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(answer) > E128) {
      answer *= EM128;
      exponent += 128;
    }
    answer *= m;
  }
  if (exponent !== 0) answer *= Math.pow(2, exponent);
  return clip01(answer);
}

/**
 * Pelz–Good asymptotic expansion of P(Dₙ ≤ x): W. Pelz & I. J. Good (1976), "Approximating the lower
 * tail-areas of the Kolmogorov–Smirnov one-sample statistic", JRSS B 38(2)
 * (port of scipy.stats._ksstats._kolmogn_PelzGood).
 */
function kolmogorovCdfPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const pi2 = Math.PI * Math.PI;
  const pi4 = pi2 * pi2;
  const pi6 = pi4 * pi2;
  const qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = pi2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * pi2) / 4;
  const k2c = (pi4 * (1 - 2 * z2)) / 16;
  const k3d = (pi6 * (5 - 30 * z2)) / 64;
  const k3c = (pi4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (pi2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * Math.pow(z, 8);
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = Math.pow(q, 8 * k);
    const coefficients = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coefficients[i]!;
  }
  const sqrt2pi = Math.sqrt(2 * Math.PI);
  const divisors = [z, 6 * z4, 72 * Math.pow(z, 7), 6480 * Math.pow(z, 10)];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * sqrt2pi) / divisors[i]!;
  q = Math.exp(-pi2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = Math.pow(q, k2);
    k2extra += k2 * qk;
    const kpi = Math.PI * k;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K[2] = K[2]! + (k2extra * pi2 * sqrt2pi) / (-36 * z3);
  K[3] = K[3]! + (k3extra * pi2 * sqrt2pi) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / Math.pow(n, i / 2);
  return sum;
}

/**
 * Survival function of the two-sided one-sample Kolmogorov–Smirnov statistic, P(Dₙ ≥ x)
 * (scipy.stats.kstwo.sf). Chooses among exact and asymptotic methods as Simard & L'Ecuyer (2011),
 * "Computing the two-sided Kolmogorov–Smirnov distribution", J. Stat. Softw. 39(11), exactly as
 * scipy.stats._ksstats._kolmogn does (Ruben–Gambino closed forms, Durbin/MTW, Pomeranz, Pelz–Good, 2·Smirnov).
 */
export function kolmogorovSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= (i / n) * (2 * t - 1);
    } else prob = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clip01(1 - kolmogorovCdfDurbin(n, x));
    if (nxSquared <= 4) return clip01(1 - kolmogorovCdfPomeranz(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4 ? kolmogorovCdfDurbin(n, x) : kolmogorovCdfPelzGood(n, x);
  return clip01(1 - cdf);
}

/**
 * Survival function of the limiting Anderson–Darling distribution, P(A∞ ≥ z), where
 * A∞ = Σ_{j≥1} χ²₁,ⱼ / (j(j + 1)) (mean 1, variance 2(π² − 9)/3): the limit of the one-sample statistic
 * and of the two-sample (k = 2) statistic of Scholz & Stephens (1987).
 *  - z < 6: G. Marsaglia & J. Marsaglia (2004), "Evaluating the Anderson–Darling distribution",
 *    J. Statist. Software 9(2), function ADinf (|error| of the CDF < 2·10⁻⁶; above z = 2 the CDF is
 *    exp(−exp(g(z))), evaluated here as −expm1(−exp(g)) without cancellation). Its error is absolute:
 *    at z = 10 it is half the true tail, so it is not used there.
 *  - z ≥ 6: the tail expansion. A∞ = X₁/2 + R with X₁ ~ χ²₁ and E[e^R] = Π_{j≥2} (1 − 2/(j(j+1)))^(−1/2) = √3
 *    (the product telescopes to 1/3), so P(A∞ ≥ z) ~ √(3/(πz)) e^(−z); the factor 1 − 0.188/z + 0.348/z²
 *    is fitted to an Imhof (1961) inversion of the characteristic function Π (1 − 2it/(j(j+1)))^(−1/2),
 *    within 0.1% of it at z = 6…20 (sf(6) = 9.6745e-4, sf(10) = 1.3815e-5, sf(15) = 7.633e-8).
 */
export function andersonDarlingInfSf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z <= 0) return 1;
  if (z >= 6) return Math.sqrt(3 / (Math.PI * z)) * Math.exp(-z) * (1 - 0.188 / z + 0.348 / (z * z));
  if (z < 2) {
    const cdf = (Math.exp(-1.2337141 / z) / Math.sqrt(z)) * (2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z);
    return clip01(1 - cdf);
  }
  const g = 1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z;
  return clip01(-Math.expm1(-Math.exp(g)));
}

/**
 * The canary verdict: from what the canary version and the serving version did over the same
 * window, promote the canary, roll it back, or wait for more evidence. Pure: the local runner
 * feeds it the API's per-version request stats, the CanaryCheck Lambda CloudWatch's.
 */

/** What one version did during the canary window. */
export interface VersionWindowStats {
  /** Requests routed to the version: answered plus failed. */
  readonly requests: number;
  /** Requests the version failed (load or prediction errors: the 5xx a client saw). */
  readonly errors: number;
  /** 99th percentile of the prediction latency in milliseconds; null without answered requests. */
  readonly p99Ms: number | null;
  /** Captured predictions per predicted class, when the window's capture holds some. */
  readonly classCounts?: Readonly<Record<string, number>>;
}

/** When a canary is judged healthy or not. */
export interface CanaryThresholds {
  /** Canary requests needed before its error rate and latency count. @default 100 */
  readonly minRequests?: number;
  /** Largest excess of the canary's error rate over the serving version's, as a share (0.01 = one point). @default 0.01 */
  readonly maxErrorRateIncrease?: number;
  /** Largest ratio of the canary's p99 latency to the serving version's. @default 1.5 */
  readonly latencyFactor?: number;
  /**
   * A canary p99 below this many milliseconds always passes: at sub-millisecond latencies a ratio
   * measures scheduler noise, not the model; a few slow first requests (a cold model) do not fail a canary either. @default 100
   */
  readonly latencyFloorMs?: number;
  /**
   * Largest difference, in share of predictions, between the canary's and the serving version's
   * share of any class. Loose by default: a model retrained after concept drift is meant to
   * predict differently (the demo's moves by ~27 points); this catches gross disagreement. @default 0.5
   */
  readonly maxClassShareShift?: number;
  /** Largest share of one class among the canary's predictions, unless the serving version's is as large: a collapsed model. @default 0.99 */
  readonly maxClassShare?: number;
  /** Captured predictions needed from each version before their class shares are compared. @default 50 */
  readonly minPredictions?: number;
}

export const DEFAULT_CANARY_THRESHOLDS: Required<CanaryThresholds> = {
  minRequests: 100,
  maxErrorRateIncrease: 0.01,
  latencyFactor: 1.5,
  latencyFloorMs: 100,
  maxClassShareShift: 0.5,
  maxClassShare: 0.99,
  minPredictions: 50,
};

export interface CanaryObservation {
  readonly canary: VersionWindowStats;
  readonly serving: VersionWindowStats;
  /** The observation window is over: a healthy canary is promoted, one without enough traffic rolled back. */
  readonly windowEnded: boolean;
}

export interface CanaryVerdict {
  readonly action: 'promote' | 'rollback' | 'wait';
  /** Why, in words for the registry note and the notification. */
  readonly reasons: string[];
}

const percent = (share: number) => `${(share * 100).toFixed(2)}%`;
const rate = (s: VersionWindowStats) => (s.requests > 0 ? s.errors / s.requests : 0);

/**
 * Decides a canary. Rollback as soon as enough canary requests show an error rate, a p99 latency
 * or a prediction mix out of bounds against the serving version over the same window; promote a
 * canary that stayed within bounds once the window is over; otherwise wait. A window that ends
 * with fewer than `minRequests` canary requests rolls back: an unobserved canary is not promoted.
 */
export function decideCanary(observation: CanaryObservation, thresholds: CanaryThresholds = {}): CanaryVerdict {
  const t = { ...DEFAULT_CANARY_THRESHOLDS, ...thresholds };
  const { canary, serving, windowEnded } = observation;
  if (canary.requests < t.minRequests) {
    if (!windowEnded) return { action: 'wait', reasons: [`${canary.requests} of ${t.minRequests} canary requests needed so far`] };
    return { action: 'rollback', reasons: [`only ${canary.requests} canary requests in the window; at least ${t.minRequests} are needed to judge it`] };
  }
  const reasons: string[] = [];
  if (rate(canary) > rate(serving) + t.maxErrorRateIncrease) {
    reasons.push(
      `error rate ${percent(rate(canary))} (${canary.errors}/${canary.requests}) exceeds the serving version's ${percent(rate(serving))} by more than ${percent(t.maxErrorRateIncrease)}`,
    );
  }
  if (canary.p99Ms !== null && serving.p99Ms !== null && canary.p99Ms > Math.max(serving.p99Ms * t.latencyFactor, t.latencyFloorMs)) {
    reasons.push(`p99 latency ${canary.p99Ms.toFixed(1)} ms is above ${t.latencyFactor}x the serving version's ${serving.p99Ms.toFixed(1)} ms (and above ${t.latencyFloorMs} ms)`);
  }
  const shift = classShareShift(canary.classCounts, serving.classCounts, t.minPredictions);
  if (shift && shift.collapsed.canary > t.maxClassShare && shift.collapsed.serving <= t.maxClassShare) {
    reasons.push(`class "${shift.collapsed.label}" is ${percent(shift.collapsed.canary)} of the canary's predictions (at most ${percent(t.maxClassShare)}): it predicts almost nothing else`);
  } else if (shift && shift.shift > t.maxClassShareShift) {
    reasons.push(
      `class "${shift.label}" is ${percent(shift.canary)} of the canary's predictions against ${percent(shift.serving)} of the serving version's (more than ${percent(t.maxClassShareShift)} apart)`,
    );
  }
  if (reasons.length) return { action: 'rollback', reasons };
  const healthy = `${canary.requests} canary requests: error rate ${percent(rate(canary))} vs ${percent(rate(serving))}, p99 ${canary.p99Ms?.toFixed(1) ?? 'n/a'} ms vs ${serving.p99Ms?.toFixed(1) ?? 'n/a'} ms`;
  return windowEnded ? { action: 'promote', reasons: [healthy] } : { action: 'wait', reasons: [`${healthy}; window not over`] };
}

/**
 * The class whose share differs most between the two versions' predictions, and the canary's
 * most predicted class; null with too few predictions of either.
 */
function classShareShift(canary: VersionWindowStats['classCounts'], serving: VersionWindowStats['classCounts'], minPredictions: number) {
  if (!canary || !serving) return null;
  const total = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const nc = total(canary);
  const ns = total(serving);
  if (nc < minPredictions || ns < minPredictions) return null;
  let worst = { label: '', canary: 0, serving: 0, shift: -1 };
  let collapsed = { label: '', canary: -1, serving: 0 };
  for (const label of new Set([...Object.keys(canary), ...Object.keys(serving)])) {
    const c = (canary[label] ?? 0) / nc;
    const s = (serving[label] ?? 0) / ns;
    if (Math.abs(c - s) > worst.shift) worst = { label, canary: c, serving: s, shift: Math.abs(c - s) };
    if (c > collapsed.canary) collapsed = { label, canary: c, serving: s };
  }
  return { ...worst, collapsed };
}

import { argmaxAt } from '../../core/model/argmax';
/** Scores of one model on a set of rows: `rows × width`, row-major. */
export interface Scores {
  readonly values: ArrayLike<number>;
  readonly width: number;
}

/**
 * Share of rows on which two models agree. With several score columns: the same top-1
 * class. With one column (a regression value or a single sigmoid): within 1% of the
 * reference outputs' standard deviation, since there is no class to compare.
 */
export function agreement(reference: Scores, candidate: Scores): number {
  const { width } = reference;
  const rows = reference.values.length / width;
  if (rows === 0) return 1;
  let same = 0;
  if (width > 1) {
    for (let r = 0; r < rows; r++) if (argmaxAt(reference.values, r * width, width) === argmaxAt(candidate.values, r * width, width)) same++;
    return same / rows;
  }
  const tolerance = 0.01 * standardDeviation(reference.values);
  for (let r = 0; r < rows; r++) if (Math.abs(reference.values[r]! - candidate.values[r]!) <= tolerance) same++;
  return same / rows;
}

/** Largest absolute difference between two score matrices. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`score lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function standardDeviation(values: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i]!;
  mean /= Math.max(values.length, 1);
  let variance = 0;
  for (let i = 0; i < values.length; i++) variance += (values[i]! - mean) ** 2;
  return Math.sqrt(variance / Math.max(values.length - 1, 1));
}

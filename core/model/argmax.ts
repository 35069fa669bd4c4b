import type { BatchScores } from './predictor';

/** Index of the largest score in row `row`. Kept apart from predictor.ts, which loads ONNX Runtime: the GPU proxy uses this without it. */
export function argmaxRow(scores: { readonly values: ArrayLike<number>; readonly width: BatchScores['width'] }, row: number): number {
  let best = 0;
  const offset = row * scores.width;
  for (let j = 1; j < scores.width; j++) {
    if (scores.values[offset + j]! > scores.values[offset + best]!) best = j;
  }
  return best;
}

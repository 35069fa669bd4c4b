/*
 * The top class of a row of scores, in one place. Kept apart from predictor.ts, which loads ONNX
 * Runtime: the GPU proxy and the drift code use this without it. Ties go to the first class, as
 * numpy.argmax and ONNX Runtime's ArgMax do.
 */

/** Index (0 … width − 1) of the largest of `values[offset … offset + width − 1]`. */
export function argmaxAt(values: ArrayLike<number>, offset: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (values[offset + j]! > values[offset + best]!) best = j;
  return best;
}

/** Index of the largest score in row `row` of a row-major score matrix. */
export function argmaxRow(scores: { readonly values: ArrayLike<number>; readonly width: number }, row: number): number {
  return argmaxAt(scores.values, row * scores.width, scores.width);
}

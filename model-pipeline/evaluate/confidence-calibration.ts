import type { Baseline } from '../../core/drift/baseline';
import { fitConfidenceCalibration } from '../../core/drift/quality';

/**
 * Fewest labelled held-out rows for a calibration: an isotonic fit on fewer follows their noise
 * (a handful of steps from a few dozen rows), and CBPE is then better off with raw confidences.
 */
export const MIN_CALIBRATION_ROWS = 100;

/**
 * The baseline with the classifier's confidence calibration fitted on labelled held-out rows
 * (training's validation rows, or an import's labelled sample), so that confidence-based
 * performance estimation (CBPE) estimates accuracy from calibrated confidences, as NannyML fits
 * its calibrator on the reference set. Unchanged for regression, without labels, or with fewer
 * than MIN_CALIBRATION_ROWS rows.
 */
export function withConfidenceCalibration(baseline: Baseline, scores: { readonly values: ArrayLike<number>; readonly width: number }, labels: ArrayLike<number> | null): Baseline {
  const prediction = baseline.prediction;
  if (prediction?.kind !== 'classification' || !labels || labels.length < MIN_CALIBRATION_ROWS) return baseline;
  return { ...baseline, prediction: { ...prediction, calibration: fitConfidenceCalibration(scores.values, scores.width, labels) } };
}

import { argmaxAt } from './argmax';

/** Quality metrics of a classifier or regressor, computed from scores and ground truth. */

export interface ClassificationReport {
  readonly rows: number;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly logLoss: number;
  /** Area under the ROC curve of the positive (second) class; binary tasks only. */
  readonly rocAuc?: number;
  /** confusion[actual][predicted] counts, in class order. */
  readonly confusion: number[][];
}

export interface RegressionReport {
  readonly rows: number;
  readonly rmse: number;
  readonly mae: number;
  readonly r2: number;
}

/** Accuracy, macro-F1, log loss, ROC AUC (binary) and the confusion matrix. */
export function classificationReport(
  probabilities: ArrayLike<number>,
  classes: number,
  actual: ArrayLike<number>,
): ClassificationReport {
  const rows = actual.length;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let logLoss = 0;
  for (let r = 0; r < rows; r++) {
    const best = argmaxAt(probabilities, r * classes, classes);
    const truth = actual[r]!;
    confusion[truth]![best]!++;
    logLoss -= Math.log(Math.min(Math.max(probabilities[r * classes + truth]!, 1e-15), 1));
  }
  const correct = confusion.reduce((sum, row, k) => sum + row[k]!, 0);
  const f1s = confusion.map((row, k) => {
    const tp = row[k]!;
    const predicted = confusion.reduce((sum, other) => sum + other[k]!, 0);
    const actualCount = row.reduce((a, b) => a + b, 0);
    return tp === 0 ? 0 : (2 * tp) / (predicted + actualCount);
  });
  const report: ClassificationReport = {
    rows,
    accuracy: rows ? correct / rows : Number.NaN,
    macroF1: f1s.reduce((a, b) => a + b, 0) / classes,
    logLoss: rows ? logLoss / rows : Number.NaN,
    confusion,
  };
  if (classes !== 2) return report;
  const positive = Array.from({ length: rows }, (_, r) => probabilities[r * 2 + 1]!);
  return { ...report, rocAuc: rocAuc(positive, Array.from(actual, (a) => a === 1)) };
}

/**
 * ROC AUC as the Mann–Whitney U statistic with average ranks for ties (equivalent to
 * the trapezoidal area under the ROC curve).
 */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (positive[order[k]![1]]) {
        rankSum += averageRank;
        positives++;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** RMSE, MAE and R². */
export function regressionReport(predicted: ArrayLike<number>, actual: ArrayLike<number>): RegressionReport {
  const rows = actual.length;
  let squared = 0;
  let absolute = 0;
  let mean = 0;
  for (let r = 0; r < rows; r++) mean += actual[r]! / rows;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const error = predicted[r]! - actual[r]!;
    squared += error * error;
    absolute += Math.abs(error);
    total += (actual[r]! - mean) ** 2;
  }
  return { rows, rmse: Math.sqrt(squared / rows), mae: absolute / rows, r2: total > 0 ? 1 - squared / total : Number.NaN };
}

import type { Baseline } from '../drift/baseline';
import { assessLabelledQuality, type LabelledRows, type QualityOptions, realizedMetrics } from '../drift/quality';
import type { QualityReport } from '../drift/report';
import type { BlobStore } from '../model/blob-store';
import { classesOf, type Manifest } from '../model/manifest';
import { readLabels } from './ground-truth';
import { findPredictions } from './prediction-index';

/** Regression errors with the fourth powers the RMSE test takes the errors' kurtosis from. */
interface ErrorSums {
  readonly kind: 'regression';
  rows: number;
  sumAbsoluteError: number;
  sumSquaredError: number;
  sumFourthPowers: number;
}

type Sums = Extract<LabelledRows, { kind: 'classification' }> | ErrorSums;

/**
 * Realized quality: late labels joined with the predictions they judge, summed over all of them
 * (tested against the baseline) and per UTC day of capture (the report's table of periods).
 */
export class RealizedQuality {
  private readonly all: Sums;
  private readonly days = new Map<string, Sums>();

  /** @param classes the model's classes; 0 for regression */
  constructor(private readonly classes: number) {
    this.all = this.empty();
  }

  /** Labelled rows joined. */
  get rows(): number {
    return this.all.rows;
  }

  /** Adds one joined row: the prediction's day of capture, the predicted class index or value, the label. */
  add(day: string, predicted: number, truth: number): void {
    // An index line written by hand may name a class the model does not have.
    if (this.classes > 0 && !(Number.isInteger(predicted) && predicted >= 0 && predicted < this.classes)) return;
    let daySums = this.days.get(day);
    if (!daySums) this.days.set(day, (daySums = this.empty()));
    for (const sums of [this.all, daySums]) {
      if (sums.kind === 'classification') {
        sums.confusion[truth]![predicted]!++;
      } else {
        const error = predicted - truth;
        sums.sumAbsoluteError += Math.abs(error);
        sums.sumSquaredError += error * error;
        sums.sumFourthPowers += error ** 4;
      }
      sums.rows++;
    }
  }

  /** The quality tests on every joined row, and each day's realized metrics. */
  assess(baseline: Baseline, options: QualityOptions): Pick<QualityReport, 'labeledRows' | 'metrics' | 'alarm' | 'periods'> {
    const periods = [...this.days].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, sums]) => ({ day, labeledRows: sums.rows, ...realizedMetrics(sums) }));
    return { ...assessLabelledQuality(baseline, this.all, options), periods };
  }

  private empty(): Sums {
    return this.classes > 0
      ? { kind: 'classification', confusion: Array.from({ length: this.classes }, () => new Array<number>(this.classes).fill(0)), rows: 0 }
      : { kind: 'regression', rows: 0, sumAbsoluteError: 0, sumSquaredError: 0, sumFourthPowers: 0 };
  }
}

/**
 * Joins the labels of some ground-truth objects with the indexed predictions of the model's
 * version made at or after `since` (the label window): the labels are read first (they are
 * small), then the index is streamed for just those predictions.
 */
export async function joinLateLabels(data: BlobStore, manifest: Manifest, labelKeys: readonly string[], since: number): Promise<RealizedQuality> {
  const realized = new RealizedQuality(classesOf(manifest).length);
  if (labelKeys.length === 0) return realized;
  const labels = await readLabels(data, labelKeys, manifest);
  for (const [key, prediction] of await findPredictions(data, manifest.name, manifest.version, labels, since)) realized.add(prediction.day, prediction.predicted, labels.get(key)!);
  return realized;
}

import { describe, expect, it } from 'vitest';
import { classificationReport, regressionReport, rocAuc } from '../../core/model/metrics';

describe('rocAuc', () => {
  it('matches the textbook example (scikit-learn docs: 0.75)', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBe(0.75);
  });

  it('counts tied scores as half', () => {
    expect(rocAuc([0.5, 0.5], [false, true])).toBe(0.5);
  });

  it('is undefined (NaN) when only one class is present', () => {
    expect(rocAuc([0.2, 0.9], [true, true])).toBeNaN();
  });
});

describe('classificationReport', () => {
  it('computes accuracy, macro-F1, log loss and the confusion matrix', () => {
    // Rows: actual 0 predicted 0, actual 0 predicted 1, actual 1 predicted 1, actual 1 predicted 1.
    const probabilities = [0.9, 0.1, 0.4, 0.6, 0.2, 0.8, 0.3, 0.7];
    const report = classificationReport(probabilities, 2, [0, 0, 1, 1]);
    expect(report.accuracy).toBe(0.75);
    expect(report.confusion).toEqual([
      [1, 1],
      [0, 2],
    ]);
    // F1(class 0) = 2·1/(1+2) = 2/3; F1(class 1) = 2·2/(3+2) = 4/5.
    expect(report.macroF1).toBeCloseTo((2 / 3 + 4 / 5) / 2, 12);
    expect(report.logLoss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.4) + Math.log(0.8) + Math.log(0.7)) / 4, 12);
    expect(report.rocAuc).toBe(1);
  });

  it('has no ROC AUC for more than two classes', () => {
    const report = classificationReport([1, 0, 0, 0, 1, 0, 0, 0, 1], 3, [0, 1, 2]);
    expect(report.accuracy).toBe(1);
    expect(report.rocAuc).toBeUndefined();
  });
});

describe('regressionReport', () => {
  it('computes RMSE, MAE and R²', () => {
    const report = regressionReport([1, 2, 3, 5], [1, 2, 3, 4]);
    expect(report.rmse).toBeCloseTo(0.5, 12);
    expect(report.mae).toBeCloseTo(0.25, 12);
    expect(report.r2).toBeCloseTo(1 - 1 / 5, 12);
  });
});

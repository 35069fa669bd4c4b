import { describe, expect, it } from 'vitest';
import { decideCanary, type VersionWindowStats } from '../../model-pipeline/pipeline/canary';

/** A version's window: `requests` requests, `errors` of them failed, p99 latency `p99Ms`. */
const stats = (requests: number, errors = 0, p99Ms: number | null = 10, classCounts?: Record<string, number>): VersionWindowStats => ({ requests, errors, p99Ms, classCounts });
const serving = stats(2000, 2, 10, { yes: 300, no: 700 });

describe('decideCanary', () => {
  describe('before enough canary requests', () => {
    it('waits while the window is open, however bad the few requests look', () => {
      const verdict = decideCanary({ canary: stats(50, 50), serving, windowEnded: false });

      expect(verdict).toEqual({ action: 'wait', reasons: ['50 of 100 canary requests needed so far'] });
    });

    it('rolls back when the window ends with too few canary requests to judge', () => {
      const verdict = decideCanary({ canary: stats(50), serving, windowEnded: true });

      expect(verdict.action).toBe('rollback');
      expect(verdict.reasons[0]).toMatch(/only 50 canary requests in the window; at least 100/);
    });
  });

  describe('error rate', () => {
    it('rolls back a canary whose error rate exceeds the serving version\'s by more than the margin, before the window ends', () => {
      const verdict = decideCanary({ canary: stats(200, 10), serving, windowEnded: false });

      expect(verdict.action).toBe('rollback');
      expect(verdict.reasons).toEqual([expect.stringMatching(/^error rate 5\.00% \(10\/200\) exceeds the serving version's 0\.10% by more than 1\.00%/)]);
    });

    it('tolerates an error rate within the margin', () => {
      expect(decideCanary({ canary: stats(200, 2), serving, windowEnded: true }).action).toBe('promote');
    });

    it('follows the configured margin', () => {
      expect(decideCanary({ canary: stats(200, 2), serving, windowEnded: true }, { maxErrorRateIncrease: 0 }).action).toBe('rollback');
    });
  });

  describe('latency', () => {
    it('rolls back a canary whose p99 is above the factor times the serving version\'s', () => {
      const verdict = decideCanary({ canary: stats(200, 0, 800), serving: stats(2000, 0, 400), windowEnded: false });

      expect(verdict.action).toBe('rollback');
      expect(verdict.reasons[0]).toMatch(/^p99 latency 800\.0 ms is above 1\.5x the serving version's 400\.0 ms/);
    });

    it('passes a slower canary that stays under the floor, where ratios measure noise', () => {
      expect(decideCanary({ canary: stats(200, 0, 30), serving: stats(2000, 0, 5), windowEnded: true }).action).toBe('promote');
    });

    it('skips the comparison when the serving version answered nothing in the window', () => {
      expect(decideCanary({ canary: stats(200, 0, 500), serving: stats(0, 0, null), windowEnded: true }).action).toBe('promote');
    });
  });

  describe('prediction mix', () => {
    it('rolls back a canary whose share of a class is further than the bound from the serving version\'s', () => {
      const verdict = decideCanary({ canary: stats(200, 0, 10, { yes: 95, no: 5 }), serving, windowEnded: false });

      expect(verdict.action).toBe('rollback');
      expect(verdict.reasons[0]).toMatch(/^class "yes" is 95\.00% of the canary's predictions against 30\.00% of the serving version's/);
    });

    it('tolerates the moderate change of mix a model retrained after concept drift makes', () => {
      expect(decideCanary({ canary: stats(200, 0, 10, { yes: 18, no: 182 }), serving: stats(2000, 0, 10, { yes: 359, no: 641 }), windowEnded: true }).action).toBe('promote');
    });

    it('rolls back a canary that predicts almost only one class, which the serving version does not', () => {
      const verdict = decideCanary({ canary: stats(200, 0, 10, { no: 200 }), serving, windowEnded: false });

      expect(verdict.action).toBe('rollback');
      expect(verdict.reasons).toEqual(['class "no" is 100.00% of the canary\'s predictions (at most 99.00%): it predicts almost nothing else']);
    });

    it('ignores the mix with too few captured predictions of either version', () => {
      expect(decideCanary({ canary: stats(200, 0, 10, { yes: 20, no: 0 }), serving, windowEnded: true }).action).toBe('promote');
    });

    it('ignores the mix when no predictions were captured', () => {
      expect(decideCanary({ canary: stats(200, 0, 10), serving: stats(2000, 0, 10), windowEnded: true }).action).toBe('promote');
    });
  });

  describe('a healthy canary', () => {
    it('waits while the window is open', () => {
      const verdict = decideCanary({ canary: stats(200, 0, 11, { yes: 65, no: 135 }), serving, windowEnded: false });

      expect(verdict.action).toBe('wait');
      expect(verdict.reasons[0]).toMatch(/window not over$/);
    });

    it('is promoted when the window ends, with the evidence as the reason', () => {
      const verdict = decideCanary({ canary: stats(200, 0, 11, { yes: 65, no: 135 }), serving, windowEnded: true });

      expect(verdict).toEqual({ action: 'promote', reasons: ['200 canary requests: error rate 0.00% vs 0.10%, p99 11.0 ms vs 10.0 ms'] });
    });
  });

  it('names every reason when several bounds are broken', () => {
    const verdict = decideCanary({ canary: stats(200, 100, 900, { yes: 200 }), serving, windowEnded: false });

    expect(verdict.action).toBe('rollback');
    expect(verdict.reasons).toHaveLength(3);
  });
});

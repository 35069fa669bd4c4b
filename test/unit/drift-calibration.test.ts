import { beforeAll, describe, expect, it } from 'vitest';
import type { Baseline } from '../../core/drift/baseline';
import { runScenario, SCENARIOS, simulatedBaseline } from '../../bench/drift-scenarios';

/**
 * A fast version of bench/drift-calibration.ts (npm run bench:drift), on the same seeded synthetic
 * data and default rules, with fewer windows and bounds loosened for the smaller counts: a true rate
 * of 5% (or 95%) would still pass these bounds most of the time, and the defaults sit well inside them
 * (bench: 1.6% false alarms, 96.4–100% power, 95.7–99.3% named exactly, 0% at 100,000 rows).
 */

const SEED = 977;
let baseline: Baseline;

beforeAll(() => {
  baseline = simulatedBaseline();
});

describe('drift calibration (fast)', () => {
  it('raises the dataset alarm on at most 6% of 200 no-drift windows of 1,000 rows', () => {
    const tally = runScenario(baseline, SCENARIOS.noDrift, 200, SEED);
    expect(tally.alerts / tally.repetitions).toBeLessThanOrEqual(0.06);
  });

  it('detects a 0.2σ mean shift of one numeric feature in at least 90% of 100 windows, naming only it', () => {
    const tally = runScenario(baseline, SCENARIOS.numericShift, 100, SEED + 1);
    expect(tally.alerts / tally.repetitions).toBeGreaterThanOrEqual(0.9);
    expect(tally.named / tally.repetitions).toBeGreaterThanOrEqual(0.9);
  });

  it('detects a 10-point change of one category share in at least 90% of 100 windows, naming only it', () => {
    const tally = runScenario(baseline, SCENARIOS.categoryShift, 100, SEED + 2);
    expect(tally.alerts / tally.repetitions).toBeGreaterThanOrEqual(0.9);
    expect(tally.named / tally.repetitions).toBeGreaterThanOrEqual(0.9);
  });

  it('detects a 0.20 → 0.35 positive-rate change in at least 90% of 100 windows, naming only the predictions', () => {
    const tally = runScenario(baseline, SCENARIOS.positiveRate, 100, SEED + 3);
    expect(tally.alerts / tally.repetitions).toBeGreaterThanOrEqual(0.9);
    expect(tally.named / tally.repetitions).toBeGreaterThanOrEqual(0.9);
  });

  it('stays quiet on 100,000-row windows with an immaterial shift of every feature (at most 1 of 4)', () => {
    const tally = runScenario(baseline, SCENARIOS.immaterialLarge, 4, SEED + 4);
    expect(tally.alerts).toBeLessThanOrEqual(1);
  });
});

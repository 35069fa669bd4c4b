import { describe, expect, it } from 'vitest';
import { DEFAULT_GATE, evaluateGate, type GateInputs } from '../../model-pipeline/quantize/gate';

const good: GateInputs = { quantizedLayers: 3, agreement: 0.999, accuracyDropPoints: 0.1, speedupAt32: 2.4 };
const failed = (inputs: Partial<GateInputs>, thresholds = DEFAULT_GATE) =>
  evaluateGate({ ...good, ...inputs }, thresholds).checks.filter((c) => !c.passed).map((c) => c.name);

describe('quantization gate', () => {
  it('passes an int8 model that meets every default threshold', () => {
    expect(evaluateGate(good).passed).toBe(true);
  });

  it('fails when top-1 agreement is below 99.5%', () => {
    expect(failed({ agreement: 0.994 })).toEqual(['agreement']);
  });

  it('fails when accuracy drops by more than 0.5 points', () => {
    expect(failed({ accuracyDropPoints: 0.6 })).toEqual(['accuracy']);
  });

  it('passes an accuracy gain', () => {
    expect(failed({ accuracyDropPoints: -0.3 })).toEqual([]);
  });

  it('fails when the speed-up at batch 32 is below 1.5x', () => {
    expect(failed({ speedupAt32: 1.2 })).toEqual(['speedup']);
  });

  it('fails when no layer could be quantized', () => {
    expect(failed({ quantizedLayers: 0 })).toEqual(['quantized']);
  });

  it('fails checks that were not measured rather than passing them', () => {
    expect(failed({ agreement: null, accuracyDropPoints: null, speedupAt32: null })).toEqual(['agreement', 'accuracy', 'speedup']);
  });

  it('bounds the accuracy drop by the disagreement when there are no labels', () => {
    // Act
    const check = evaluateGate({ ...good, agreement: 0.997, accuracyDropPoints: null }).checks.find((c) => c.name === 'accuracy')!;

    // Assess
    expect(check.passed).toBe(true);
    expect(check.value).toBeCloseTo(0.3, 9);
    expect(check.detail).toMatch(/bound from agreement/);
  });

  it('applies configured thresholds instead of the defaults', () => {
    expect(failed({ speedupAt32: 1.2 }, { ...DEFAULT_GATE, minSpeedupAt32: 1 })).toEqual([]);
  });
});

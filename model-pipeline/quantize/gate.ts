/** Thresholds an int8 model must meet before it may serve. */
export interface GateThresholds {
  /** Least top-1 agreement with the float model on the evaluation rows. @default 0.995 */
  readonly minAgreement: number;
  /** Largest drop in accuracy (R² for regression), in percentage points. @default 0.5 */
  readonly maxAccuracyDropPoints: number;
  /** Least speed-up over the float model at batch 32. @default 1.5 */
  readonly minSpeedupAt32: number;
}

export const DEFAULT_GATE: GateThresholds = { minAgreement: 0.995, maxAccuracyDropPoints: 0.5, minSpeedupAt32: 1.5 };

/** One check of the gate, with the measured value and the threshold it was held to. */
export interface GateCheck {
  readonly name: 'quantized' | 'agreement' | 'accuracy' | 'speedup';
  readonly passed: boolean;
  readonly value: number | null;
  readonly threshold: number | null;
  readonly detail: string;
}

/** What the gate looks at. */
export interface GateInputs {
  readonly quantizedLayers: number;
  readonly agreement: number | null;
  /** Measured drop in points, or null without labelled rows. */
  readonly accuracyDropPoints: number | null;
  readonly speedupAt32: number | null;
}

/**
 * Decides whether an int8 model may serve. Without labelled rows the accuracy drop is
 * bounded by the disagreement: on the same rows, accuracy can only change where the two
 * models' top-1 differs, so a drop above (1 − agreement) is impossible.
 */
export function evaluateGate(inputs: GateInputs, thresholds: GateThresholds = DEFAULT_GATE): { passed: boolean; checks: GateCheck[] } {
  const checks: GateCheck[] = [];
  checks.push({
    name: 'quantized',
    passed: inputs.quantizedLayers > 0,
    value: inputs.quantizedLayers,
    threshold: 1,
    detail: inputs.quantizedLayers > 0 ? `${inputs.quantizedLayers} layer(s) in int8` : 'no layer could be quantized',
  });
  const agreement = inputs.agreement;
  checks.push({
    name: 'agreement',
    passed: agreement !== null && agreement >= thresholds.minAgreement,
    value: agreement,
    threshold: thresholds.minAgreement,
    detail: agreement === null ? 'not measured' : `top-1 agreement ${pct(agreement)} (needs ≥ ${pct(thresholds.minAgreement)})`,
  });
  const measured = inputs.accuracyDropPoints;
  const drop = measured ?? (agreement === null ? null : (1 - agreement) * 100);
  checks.push({
    name: 'accuracy',
    passed: drop !== null && drop <= thresholds.maxAccuracyDropPoints,
    value: drop,
    threshold: thresholds.maxAccuracyDropPoints,
    detail: drop === null
      ? 'not measured'
      : measured === null
        ? `drop of at most ${drop.toFixed(2)} pt (bound from agreement: no labels) (needs ≤ ${thresholds.maxAccuracyDropPoints} pt)`
        : `${drop >= 0 ? `drop of ${drop.toFixed(2)}` : `gain of ${(-drop).toFixed(2)}`} pt (needs a drop ≤ ${thresholds.maxAccuracyDropPoints} pt)`,
  });
  const speedup = inputs.speedupAt32;
  checks.push({
    name: 'speedup',
    passed: speedup !== null && speedup >= thresholds.minSpeedupAt32,
    value: speedup,
    threshold: thresholds.minSpeedupAt32,
    detail: speedup === null ? 'not measured' : `${speedup.toFixed(2)}x at batch 32 (needs ≥ ${thresholds.minSpeedupAt32}x)`,
  });
  return { passed: checks.every((c) => c.passed), checks };
}

function pct(share: number): string {
  return `${(share * 100).toFixed(2)}%`;
}

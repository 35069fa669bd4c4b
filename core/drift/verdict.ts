import type { DriftReport } from './report';

/** What a monitoring verdict can be about; each one alone raises the alarm. */
export type DriftKind = 'data' | 'prediction' | 'missing' | 'quality';

/** One reason for the verdict, named for a person: "data drift in age, income". */
export interface VerdictReason {
  readonly kind: DriftKind;
  readonly text: string;
}

/**
 * The one verdict of a report, which the CLI's exit code and banner, the HTML report and the
 * monitor's alarm all show: drift when any kind of drift is found (data, predictions, missing
 * rates, model quality — realized on labels, or estimated without them), insufficient data when
 * nothing could be decided, else no drift. Quality counts even when the data looks unchanged:
 * concept drift moves no feature.
 */
export interface Verdict {
  readonly status: 'drift' | 'no_drift' | 'insufficient_data';
  readonly reasons: readonly VerdictReason[];
  /** The banner line: "DRIFT: data drift in age; model quality degraded (accuracy 0.71 vs 0.91)". */
  readonly headline: string;
}

/** CLI exit codes of a verdict. */
export const VERDICT_EXIT_CODES = { no_drift: 0, drift: 3, insufficient_data: 4 } as const;

const fixed = (value: number | null | undefined) => (value === null || value === undefined ? '–' : value.toFixed(3));

export function verdictOf(report: DriftReport): Verdict {
  const reasons: VerdictReason[] = [];
  const { dataset, quality } = report;
  if (dataset.driftedFeatures.length) reasons.push({ kind: 'data', text: `data drift in ${dataset.driftedFeatures.join(', ')}` });
  if (dataset.predictionDrift) reasons.push({ kind: 'prediction', text: 'prediction drift' });
  const missing = report.features.filter((f) => f.missing?.verdict === 'drift').map((f) => `${f.name} (${fixed(f.missing!.baselineRate)} → ${fixed(f.missing!.currentRate)})`);
  if (missing.length) reasons.push({ kind: 'missing', text: `missing values rose in ${missing.join(', ')}` });
  const degraded = (quality?.metrics ?? []).filter((m) => m.verdict === 'degraded');
  // Measured quality overrules the estimate: labels say what the estimate can only guess.
  const measured = (quality?.metrics ?? []).some((m) => m.verdict !== 'insufficient_data');
  if (quality?.alarm && degraded.length) {
    reasons.push({ kind: 'quality', text: `model quality degraded (${degraded.map((m) => `${m.name} ${fixed(m.current)} vs ${fixed(m.baseline)}`).join(', ')})` });
  } else if (!measured && quality?.estimated?.alarm) {
    reasons.push({ kind: 'quality', text: `estimated accuracy dropped without labels (CBPE ${fixed(quality.estimated.estimate)} vs ${fixed(quality.estimated.reference)})` });
  }
  if (reasons.length) return { status: 'drift', reasons, headline: `DRIFT: ${reasons.map((r) => r.text).join('; ')}` };
  const decided = dataset.testedFeatures > 0 || (quality?.metrics ?? []).some((m) => m.verdict !== 'insufficient_data');
  if (!decided || dataset.verdict === 'insufficient_data') {
    return { status: 'insufficient_data', reasons, headline: `INSUFFICIENT DATA: ${report.sampleSizes.currentRows} rows against ${report.sampleSizes.baselineRows} baseline rows; nothing could be decided` };
  }
  return { status: 'no_drift', reasons, headline: `NO DRIFT: ${dataset.testedFeatures} features, the predictions${quality ? ' and model quality' : ''} within bounds` };
}

import type { DriftReport, FeatureDrift } from '../drift/report';

/** A feature's drift score in one run: its decisive effect over that effect's threshold (1 or more: the gate is open). */
export function driftScore(feature: Pick<FeatureDrift, 'effect'>): number | null {
  return feature.effect && feature.effect.threshold > 0 ? feature.effect.value / feature.effect.threshold : null;
}

/** One earlier run of the monitor, as the report shows it over time. */
export interface HistoryRun {
  readonly at: string;
  /** Drift score per feature (see {@link driftScore}); null where the feature was not assessed. */
  readonly scores: Readonly<Record<string, number | null>>;
  readonly alert: boolean;
}

/** The history entry of a report written by the monitor (its JSON carries `createdAt` beside the report). */
export function historyRun(report: Pick<DriftReport, 'features' | 'dataset'>, at: string): HistoryRun {
  return { at, alert: report.dataset.alert, scores: Object.fromEntries(report.features.map((f) => [f.name, driftScore(f)])) };
}

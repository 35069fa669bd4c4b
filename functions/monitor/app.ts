import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { MonitorOutcome } from '../../core/monitor/monitor';

/** The "Drift Confirmed" event that starts retraining (the pipeline's EventBridge rule matches it). */
export function driftEvent(outcome: Extract<MonitorOutcome, { status: 'reported' }>, busName: string) {
  return {
    Source: 'mlops.monitor',
    DetailType: 'Drift Confirmed',
    EventBusName: busName,
    Detail: JSON.stringify({ model: outcome.model, version: outcome.version, runId: outcome.trigger!.id, reason: outcome.trigger!.reason, report: outcome.reportKey }),
  };
}

/** CloudWatch metrics of one monitoring run (EMF through Powertools): what the alarms and the dashboard read. */
export function publishMonitorMetrics(metrics: Metrics, outcome: MonitorOutcome): void {
  const model = (dimensions: Record<string, string>) => {
    const metric = metrics.singleMetric();
    metric.addDimensions({ model: outcome.model, ...dimensions });
    return metric;
  };
  if (outcome.status === 'waiting') {
    model({}).addMetric('MonitoredRows', MetricUnit.Count, outcome.rows);
    return;
  }
  model({}).addMetric('DatasetDrift', MetricUnit.Count, outcome.alert ? 1 : 0);
  model({}).addMetric('DriftConfirmed', MetricUnit.Count, outcome.confirmed ? 1 : 0);
  model({}).addMetric('DriftedFeatureShare', MetricUnit.Percent, outcome.report.dataset.driftedShare * 100);
  model({}).addMetric('MonitoredRows', MetricUnit.Count, outcome.rows);
  model({}).addMetric('SkippedCaptureLines', MetricUnit.Count, Object.values(outcome.skipped).reduce((a, b) => a + b, 0));
  for (const feature of outcome.report.features) {
    if (feature.effect) model({ feature: feature.name }).addMetric('FeatureDriftEffect', MetricUnit.NoUnit, feature.effect.value);
  }
}

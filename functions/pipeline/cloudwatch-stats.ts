import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { VersionWindowStats } from '../../model-pipeline/pipeline/canary';
import { METRICS } from '../shared/powertools';

/**
 * What a model version did between two instants, from the metrics the inference function
 * publishes per {service, model, version} (functions/inference/handler.ts): ModelLatency (one
 * sample per answered request) and ModelErrors (one per failed one).
 */
export async function cloudWatchVersionStats(client: CloudWatchClient, model: string, version: string, since: Date, until: Date): Promise<VersionWindowStats> {
  // One period over the whole window: GetMetricData wants whole minutes, aligned start times.
  const start = new Date(Math.floor(since.getTime() / 60_000) * 60_000);
  const period = Math.max(60, Math.ceil((until.getTime() - start.getTime()) / 60_000) * 60);
  const dimensions = [
    { Name: 'service', Value: METRICS.service },
    { Name: 'model', Value: model },
    { Name: 'version', Value: version },
  ];
  const query = (id: string, metricName: string, stat: string): MetricDataQuery => ({
    Id: id,
    MetricStat: { Metric: { Namespace: METRICS.namespace, MetricName: metricName, Dimensions: dimensions }, Period: period, Stat: stat },
    ReturnData: true,
  });
  const values = new Map<string, number[]>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new GetMetricDataCommand({
        StartTime: start,
        EndTime: new Date(start.getTime() + period * 1000),
        MetricDataQueries: [query('answered', 'ModelLatency', 'SampleCount'), query('p99', 'ModelLatency', 'p99'), query('errors', 'ModelErrors', 'Sum')],
        NextToken: token,
      }),
    );
    for (const result of page.MetricDataResults ?? []) values.set(result.Id!, [...(values.get(result.Id!) ?? []), ...(result.Values ?? [])]);
    token = page.NextToken;
  } while (token);
  const sum = (id: string) => (values.get(id) ?? []).reduce((a, b) => a + b, 0);
  const p99 = values.get('p99') ?? [];
  const errors = sum('errors');
  return { requests: sum('answered') + errors, errors, p99Ms: p99.length ? Math.max(...p99) : null };
}

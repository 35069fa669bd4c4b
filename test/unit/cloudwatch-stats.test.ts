import type { CloudWatchClient, GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { cloudWatchVersionStats } from '../../functions/pipeline/cloudwatch-stats';

/**
 * The canary check's reading of CloudWatch, against a client that answers like GetMetricData
 * (no AWS account in tests): what it asks for, and how it adds up the answer.
 */

function client(pages: Array<Partial<GetMetricDataCommandOutput>>): { client: CloudWatchClient; sent: GetMetricDataCommand['input'][] } {
  const sent: GetMetricDataCommand['input'][] = [];
  return {
    sent,
    client: { send: async (command: GetMetricDataCommand) => (sent.push(command.input), pages[sent.length - 1]) } as unknown as CloudWatchClient,
  };
}

const since = new Date('2026-01-01T10:00:30Z');
const until = new Date('2026-01-01T10:20:10Z');

describe('cloudWatchVersionStats', () => {
  it("asks for the version's ModelLatency sample count and p99 and its ModelErrors sum, by service, model and version, over one whole-minute period", async () => {
    const { client: cw, sent } = client([{ MetricDataResults: [] }]);
    await cloudWatchVersionStats(cw, 'demo', '1.1.0', since, until);

    const input = sent[0]!;
    expect(input.StartTime).toEqual(new Date('2026-01-01T10:00:00Z'));
    expect(input.MetricDataQueries!.map((q) => [q.Id, q.MetricStat!.Metric!.MetricName, q.MetricStat!.Stat, q.MetricStat!.Period])).toEqual([
      ['answered', 'ModelLatency', 'SampleCount', 1260],
      ['p99', 'ModelLatency', 'p99', 1260],
      ['errors', 'ModelErrors', 'Sum', 1260],
    ]);
    for (const query of input.MetricDataQueries!) {
      expect(query.MetricStat!.Metric).toMatchObject({ Namespace: 'Mlops', Dimensions: [{ Name: 'service', Value: 'mlops' }, { Name: 'model', Value: 'demo' }, { Name: 'version', Value: '1.1.0' }] });
    }
  });

  it('counts answered plus failed requests, sums errors over pages, and keeps the largest p99', async () => {
    const { client: cw } = client([
      { MetricDataResults: [{ Id: 'answered', Values: [180] }, { Id: 'p99', Values: [12.5] }, { Id: 'errors', Values: [3] }], NextToken: 'more' },
      { MetricDataResults: [{ Id: 'answered', Values: [20] }, { Id: 'p99', Values: [30] }, { Id: 'errors', Values: [2] }] },
    ]);

    expect(await cloudWatchVersionStats(cw, 'demo', '1.1.0', since, until)).toEqual({ requests: 205, errors: 5, p99Ms: 30 });
  });

  it('reports no latency and no requests for a version without data points', async () => {
    const { client: cw } = client([{ MetricDataResults: [{ Id: 'answered', Values: [] }, { Id: 'p99', Values: [] }, { Id: 'errors', Values: [] }] }]);

    expect(await cloudWatchVersionStats(cw, 'demo', '1.1.0', since, until)).toEqual({ requests: 0, errors: 0, p99Ms: null });
  });
});

import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { GenerationOutcome } from './generate';

/** Names of the function's CloudWatch metrics (namespace Mlops, dimensions service and model); the alarms and dashboard of infra/constructs/llm-endpoint.ts read them. */
export const LlmMetricNames = {
  timeToFirstToken: 'TimeToFirstToken',
  tokensPerSecond: 'TokensPerSecond',
  generatedTokens: 'GeneratedTokens',
  generations: 'Generations',
  streamErrors: 'GenerationErrors',
  clientErrors: 'ClientErrors',
} as const;

/**
 * Adds one generation's metrics (EMF, published with the invocation): time to first token and
 * decode tokens/s when they were measured, tokens, and the outcome. CloudWatch computes their
 * p50/p95/p99 from the individual values.
 */
export function addGenerationMetrics(metrics: Metrics, outcome: GenerationOutcome): void {
  metrics.addDimension('model', outcome.model);
  const { summary } = outcome;
  if (outcome.result === 'rejected') {
    metrics.addMetric(LlmMetricNames.clientErrors, MetricUnit.Count, 1);
    return;
  }
  metrics.addMetric(LlmMetricNames.generations, MetricUnit.Count, 1);
  if (summary.timeToFirstTokenMs !== undefined) metrics.addMetric(LlmMetricNames.timeToFirstToken, MetricUnit.Milliseconds, summary.timeToFirstTokenMs);
  if (summary.tokensPerSecond !== undefined) metrics.addMetric(LlmMetricNames.tokensPerSecond, MetricUnit.CountPerSecond, summary.tokensPerSecond);
  metrics.addMetric(LlmMetricNames.generatedTokens, MetricUnit.Count, summary.tokens);
  metrics.addMetric(LlmMetricNames.streamErrors, MetricUnit.Count, outcome.result === 'failed' ? 1 : 0);
}

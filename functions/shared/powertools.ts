import { Logger } from '@aws-lambda-powertools/logger';
import { type MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** A unit of MetricUnit (Count, Milliseconds, …). */
type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/** One logger, metrics and tracer per function, created once and shared (Powertools' recommended pattern). */
export const logger = new Logger({ serviceName: 'mlops' });
/** Where the functions' metrics go: readers (the canary check) query the same namespace and `service` dimension. */
export const METRICS = { namespace: 'Mlops', service: 'mlops' } as const;
export const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service });
export const tracer = new Tracer({ serviceName: 'mlops' });

/**
 * Publishes one value with its own dimensions (model, version, …). A single metric is published
 * on its first addMetric, so each value gets its own rather than sharing the function's default dimensions.
 */
export function publishMetric(name: string, unit: Unit, value: number, dimensions: Record<string, string>): void {
  const metric = metrics.singleMetric();
  metric.addDimensions(dimensions);
  metric.addMetric(name, unit, value);
}

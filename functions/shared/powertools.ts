import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** One logger, metrics and tracer per function, created once and shared (Powertools' recommended pattern). */
export const logger = new Logger({ serviceName: 'mlops' });
/** Where the functions' metrics go: readers (the canary check) query the same namespace and `service` dimension. */
export const METRICS = { namespace: 'Mlops', service: 'mlops' } as const;
export const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service });
export const tracer = new Tracer({ serviceName: 'mlops' });

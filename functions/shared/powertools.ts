import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** One logger, metrics and tracer per function, created once and shared (Powertools' recommended pattern). */
export const logger = new Logger({ serviceName: 'mlops' });
export const metrics = new Metrics({ namespace: 'Mlops', serviceName: 'mlops' });
export const tracer = new Tracer({ serviceName: 'mlops' });

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { fromApiGatewayEvent, toApiGatewayResult } from '../shared/api-gateway';
import { logger, metrics, publishMetric, tracer } from '../shared/powertools';
import { createEndpointProxyApp } from './app';
import { endpointProxyEnv } from './env';
import { handleProxyRequest } from './proxy';
import { createSageMakerRuntimeClient } from './sagemaker';

// Cold start: clients and configuration are created once per container and reused.
const env = endpointProxyEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const sagemaker = tracer.captureAWSv3Client(createSageMakerRuntimeClient());
const app = createEndpointProxyApp(env, { s3, sagemaker }, {
  onError: (error, request) => logger.error('request failed', { error: error as Error, path: request.path, requestId: request.requestId }),
  onEndpointError: (error, request) =>
    logger.error('endpoint call failed', { code: error.code, status: error.status, detail: error.detail, path: request.path, requestId: request.requestId }),
  onRetry: ({ model, attempt, failure, delayMs }) => {
    logger.warn('retrying the endpoint', { model, attempt, failure, delayMs });
    publishMetric('EndpointRetries', MetricUnit.Count, 1, { model, failure });
  },
  onPrediction: ({ model, version, rows, latencyMs }) => {
    publishMetric('PredictionRows', MetricUnit.Count, rows, { model, version });
    publishMetric('EndpointLatency', MetricUnit.Milliseconds, latencyMs, { model, version });
  },
});

/** API Gateway → a SageMaker GPU endpoint. Validation, payloads and error mapping live in core/ and ./proxy.ts. */
export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  logger.addContext(context);
  try {
    const response = await handleProxyRequest(fromApiGatewayEvent(event), app);
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    if (response.status >= 500) metrics.addMetric('ServerErrors', MetricUnit.Count, 1);
    else if (response.status >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
    return toApiGatewayResult(response);
  } finally {
    metrics.publishStoredMetrics();
  }
}

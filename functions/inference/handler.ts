import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { handleApiRequest } from '../../core/protocol/router';
import { fromApiGatewayEvent, toApiGatewayResult } from '../shared/api-gateway';
import { logger, metrics, publishMetric, tracer } from '../shared/powertools';
import { createInferenceApp } from './app';
import { inferenceEnv } from './env';

// Cold start: clients, engine and models are created once per container and reused.
const env = inferenceEnv();
const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE }));
const app = createInferenceApp(env, s3, {
  onError: (error, request) => logger.error('request failed', { error: error as Error, path: request.path, requestId: request.requestId }),
  onCaptureError: (error) => logger.warn('capture write failed', { error: error as Error }),
  onPrediction: ({ model, version, rows, latencyMs }) => {
    publishMetric('PredictionRows', MetricUnit.Count, rows, { model, version });
    publishMetric('ModelLatency', MetricUnit.Milliseconds, latencyMs, { model, version });
  },
  // Per version like the two above: the pipeline's canary check compares a canary's errors with the serving version's.
  onVersionError: ({ model, version }) => publishMetric('ModelErrors', MetricUnit.Count, 1, { model, version }),
});
// Model loading starts during the init phase; the first request waits for it. (Bundled as
// CommonJS so onnxruntime-node resolves from the layer; hence a promise, not top-level await.)
const warm = (async () => {
  const start = performance.now();
  await Promise.allSettled(env.MODEL_NAMES.map((name) => app.engine.model(name)));
  logger.info('models loaded', { models: app.engine.loadedVersions(), ms: Math.round(performance.now() - start) });
})();

/** API Gateway → the inference API. Parsing, validation and prediction live in core/. */
export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  logger.addContext(context);
  await warm;
  try {
    const request = fromApiGatewayEvent(event);
    const response = await handleApiRequest(request, app);
    // Clients quote this id when they send late labels (labels/<model>/ground-truth/).
    response.headers['x-request-id'] = request.requestId;
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    if (response.status >= 500) metrics.addMetric('ServerErrors', MetricUnit.Count, 1);
    else if (response.status >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
    return toApiGatewayResult(response);
  } finally {
    metrics.publishStoredMetrics();
  }
}

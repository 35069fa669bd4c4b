import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { EndpointError } from '../../core/protocol/triton';
import { createSageMakerRuntimeClient } from '../endpoint-proxy/sagemaker';
import { logger, metrics, publishMetric, tracer } from '../shared/powertools';
import { createLlmStreamApp } from './app';
import { llmStreamEnv } from './env';
import { streamGeneration } from './generate';
import { fromFunctionUrlEvent, lambdaResponseSink } from './lambda-stream';
import { addGenerationMetrics } from './metrics';

// Cold start: configuration and the client are created once per container and reused.
const env = llmStreamEnv();
const sagemaker = tracer.captureAWSv3Client(createSageMakerRuntimeClient());
const app = createLlmStreamApp(env, sagemaker, {
  onRetry: ({ model, attempt, failure, delayMs }) => {
    logger.warn('retrying the endpoint before the first token', { model, attempt, failure, delayMs });
    publishMetric('EndpointRetries', MetricUnit.Count, 1, { model, failure });
  },
  onError: (error, request) =>
    error instanceof EndpointError
      ? logger.error('generation failed', { code: error.code, status: error.status, detail: error.detail, requestId: request.requestId })
      : logger.error('generation failed unexpectedly', { error: error as Error, requestId: request.requestId }),
  onOutcome: (outcome, request) =>
    logger.info('generation', {
      requestId: request.requestId,
      result: outcome.result,
      status: outcome.status,
      code: outcome.code,
      finishReason: outcome.finishReason,
      tokens: outcome.summary.tokens,
      timeToFirstTokenMs: outcome.summary.timeToFirstTokenMs,
      tokensPerSecond: outcome.summary.tokensPerSecond,
      attempts: outcome.attempts,
    }),
});

/**
 * Lambda function URL (IAM auth, RESPONSE_STREAM) → SageMaker InvokeEndpointWithResponseStream →
 * tokens to the caller as Server-Sent Events. The protocol lives in core/protocol/llm-stream.ts,
 * the streaming and error mapping in ./generate.ts; `awslambda` is the global the Node.js
 * runtime provides (local/lambda-streaming.ts provides the same contract off Lambda).
 */
export const handler = awslambda.streamifyResponse<LambdaFunctionURLEvent>(async (event, responseStream, context) => {
  logger.addContext(context);
  // The caller hanging up closes the response stream: stop generating (and paying for GPU time).
  const gone = new AbortController();
  responseStream.once('close', () => {
    if (!responseStream.writableFinished) gone.abort();
  });
  responseStream.once('error', () => gone.abort());
  try {
    const outcome = await streamGeneration(fromFunctionUrlEvent(event), app, lambdaResponseSink(responseStream), gone.signal);
    addGenerationMetrics(metrics, outcome);
  } finally {
    metrics.publishStoredMetrics();
  }
});

import type { S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../shared/s3-blob-store';
import type { EndpointProxyEnv } from './env';
import { DeployedModels, type ProxyDependencies } from './proxy';
import { SageMakerEndpointInvoker } from './sagemaker';

/** Builds the proxy's dependencies from the environment; shared by the handler and its tests. */
export function createEndpointProxyApp(
  env: EndpointProxyEnv,
  clients: { s3: S3Client; sagemaker: SageMakerRuntimeClient },
  hooks: Pick<ProxyDependencies, 'onError' | 'onEndpointError' | 'onRetry' | 'onPrediction' | 'retryHooks'> = {},
): ProxyDependencies {
  return {
    models: new DeployedModels(new ModelRepository(new S3BlobStore(clients.s3, env.MODEL_BUCKET)), env.ENDPOINTS),
    invoker: new SageMakerEndpointInvoker(clients.sagemaker),
    retry: {
      maxAttempts: env.MAX_ATTEMPTS,
      baseDelayMs: env.RETRY_BASE_DELAY_MS,
      maxDelayMs: env.RETRY_MAX_DELAY_MS,
      timeoutMs: env.INVOKE_TIMEOUT_MS,
    },
    limits: { maxBatchRows: env.MAX_BATCH_ROWS, maxBodyBytes: env.MAX_BODY_BYTES },
    ...hooks,
  };
}

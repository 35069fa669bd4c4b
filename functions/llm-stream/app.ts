import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { LlmStreamEnv } from './env';
import type { LlmStreamDependencies } from './generate';
import { SageMakerTokenStreamInvoker } from './sagemaker';

/** Builds the streaming proxy's dependencies from the environment; shared by the handler, the local platform and tests. */
export function createLlmStreamApp(
  env: LlmStreamEnv,
  sagemaker: SageMakerRuntimeClient,
  hooks: Pick<LlmStreamDependencies, 'onRetry' | 'onOutcome' | 'onError' | 'retryHooks'> = {},
): LlmStreamDependencies {
  return {
    model: env.MODEL_NAME,
    endpoint: env.ENDPOINT_NAME,
    invoker: new SageMakerTokenStreamInvoker(sagemaker),
    retry: { maxAttempts: env.MAX_ATTEMPTS, baseDelayMs: env.RETRY_BASE_DELAY_MS, maxDelayMs: env.RETRY_MAX_DELAY_MS, timeoutMs: env.STREAM_TIMEOUT_MS },
    limits: { maxNewTokens: env.MAX_NEW_TOKENS, maxPromptChars: env.MAX_PROMPT_CHARS, maxBodyBytes: env.MAX_BODY_BYTES },
    ...hooks,
  };
}

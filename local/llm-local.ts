import type { StreamingRoutes } from './api-server';
import { createSageMakerRuntimeClient } from '../functions/endpoint-proxy/sagemaker';
import { createLlmStreamApp } from '../functions/llm-stream/app';
import { llmStreamEnv } from '../functions/llm-stream/env';
import { LlmStats } from './dashboard/llm-stats';
import { LlmStandIn } from './llm-stand-in';
import { llmRoute } from './llm-route';

/** The model name of the local stand-in LLM: `POST /llm/stand-in/generate`. */
export const LOCAL_LLM = { name: 'stand-in', endpoint: 'mlops-local-llm-stand-in' } as const;

/** The local LLM path of `npm start`. */
export interface LocalLlm {
  /** Serves `POST /llm/<model>/generate`; false for other requests. */
  readonly route: StreamingRoutes;
  readonly stats: LlmStats;
  /** Where the SageMaker runtime stand-in listens. */
  readonly standInUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the local LLM path: the SageMaker runtime stand-in (a token generator, not a language
 * model) on a free localhost port, the SDK client pointed at it, and the route that runs the
 * Lambda's streamGeneration — so `curl -N` locally exercises the deployed code path except for
 * the GPU.
 */
export async function startLocalLlm(options: { tokenDelayMs?: number; firstTokenDelayMs?: number } = {}): Promise<LocalLlm> {
  const standIn = new LlmStandIn({ endpoints: [LOCAL_LLM.endpoint], tokenDelayMs: options.tokenDelayMs ?? 30, firstTokenDelayMs: options.firstTokenDelayMs ?? 150 });
  const standInUrl = await standIn.start();
  // The stand-in checks no signature; the client still signs, so it needs some credentials.
  const client = createSageMakerRuntimeClient({ endpoint: standInUrl, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const app = createLlmStreamApp(llmStreamEnv({ MODEL_NAME: LOCAL_LLM.name, ENDPOINT_NAME: LOCAL_LLM.endpoint, MAX_NEW_TOKENS: '512', STREAM_TIMEOUT_MS: '60000' }), client);
  const stats = new LlmStats();
  return {
    route: llmRoute(new Map([[LOCAL_LLM.name, app]]), (outcome) => stats.record(outcome)),
    stats,
    standInUrl,
    close: async () => {
      client.destroy();
      await standIn.close();
    },
  };
}

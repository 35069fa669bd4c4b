import { z } from 'zod';
import { DEFAULT_GENERATE_LIMITS } from '../../core/protocol/llm-stream';
import { DEFAULT_RETRY_POLICY } from '../../core/protocol/triton';

/** Environment of the LLM streaming function; the construct sets every variable (see infra/constructs/llm-endpoint.ts). */
export const LlmStreamEnvSchema = z.object({
  /** The model's name in the API and in metrics. */
  MODEL_NAME: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a model name'),
  ENDPOINT_NAME: z.string().min(1).max(63),
  /** Budget of one generation: retries before the first token and the whole stream. */
  STREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  MAX_NEW_TOKENS: z.coerce.number().int().positive().default(DEFAULT_GENERATE_LIMITS.maxNewTokens),
  MAX_PROMPT_CHARS: z.coerce.number().int().positive().default(DEFAULT_GENERATE_LIMITS.maxPromptChars),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(DEFAULT_RETRY_POLICY.maxAttempts),
  RETRY_BASE_DELAY_MS: z.coerce.number().int().nonnegative().default(DEFAULT_RETRY_POLICY.baseDelayMs),
  RETRY_MAX_DELAY_MS: z.coerce.number().int().nonnegative().default(DEFAULT_RETRY_POLICY.maxDelayMs),
});

export type LlmStreamEnv = z.infer<typeof LlmStreamEnvSchema>;

/** Parses the environment, naming every bad variable. */
export function llmStreamEnv(env: NodeJS.ProcessEnv = process.env): LlmStreamEnv {
  const result = LlmStreamEnvSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

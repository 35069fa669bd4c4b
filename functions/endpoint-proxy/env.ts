import { z } from 'zod';
import { jsonVariable, ModelNameSchema } from '../shared/env';
import { DEFAULT_LIMITS } from '../../core/protocol/limits';
import { DEFAULT_RETRY_POLICY } from '../../core/protocol/triton';

/** The SageMaker endpoint of each model, and the package version it serves. */
const EndpointsSchema = z.record(ModelNameSchema, z.strictObject({ endpoint: z.string().min(1).max(63), version: z.string().min(1) }));

/** Environment of the endpoint proxy function; the construct sets every variable (see infra/constructs/endpoint-proxy.ts). */
export const EndpointProxyEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  /** JSON: `{"<model>": {"endpoint": "<SageMaker endpoint name>", "version": "<package version>"}}`. */
  ENDPOINTS: jsonVariable(EndpointsSchema),
  MAX_BATCH_ROWS: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxBatchRows),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxBodyBytes),
  /** Budget of one request to the endpoint, retries and backoff included. */
  INVOKE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(DEFAULT_RETRY_POLICY.maxAttempts),
  RETRY_BASE_DELAY_MS: z.coerce.number().int().nonnegative().default(DEFAULT_RETRY_POLICY.baseDelayMs),
  RETRY_MAX_DELAY_MS: z.coerce.number().int().nonnegative().default(DEFAULT_RETRY_POLICY.maxDelayMs),
  /** Path-style S3 addressing, for S3-compatible endpoints (the embedded S3 via AWS_ENDPOINT_URL_S3). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type EndpointProxyEnv = z.infer<typeof EndpointProxyEnvSchema>;

/** Parses the environment, naming every bad variable. */
export function endpointProxyEnv(env: NodeJS.ProcessEnv = process.env): EndpointProxyEnv {
  const result = EndpointProxyEnvSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

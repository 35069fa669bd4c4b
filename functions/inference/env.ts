import { z } from 'zod';
import { DEFAULT_LIMITS } from '../../core/protocol/limits';

const list = z.string().transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean));

/** Environment of the inference function; the construct sets every variable (see infra/constructs/serverless-inference.ts). */
export const InferenceEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  /** Models loaded at cold start, comma-separated. */
  MODEL_NAMES: list.default([]),
  CAPTURE_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
  CAPTURE_MAX_AGE_MS: z.coerce.number().int().positive().default(5000),
  MAX_BATCH_ROWS: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxBatchRows),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_LIMITS.maxBodyBytes),
  MICRO_BATCH_MAX_ROWS: z.coerce.number().int().positive().default(256),
  MICRO_BATCH_MAX_WAIT_MICROS: z.coerce.number().int().nonnegative().default(0),
  /** Path-style S3 addressing, for S3-compatible endpoints (the embedded S3 via AWS_ENDPOINT_URL_S3). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type InferenceEnv = z.infer<typeof InferenceEnvSchema>;

/** Parses the environment, naming every bad variable. */
export function inferenceEnv(env: NodeJS.ProcessEnv = process.env): InferenceEnv {
  const result = InferenceEnvSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

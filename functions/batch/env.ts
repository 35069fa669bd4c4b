import { z } from 'zod';

/** Environment of the batch scoring function; the Batch construct sets every variable. */
export const BatchEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  CHUNK_ROWS: z.coerce.number().int().positive().default(1024),
  /** Seconds a job's lease lasts unless released: longer than the function's timeout. */
  LEASE_SECONDS: z.coerce.number().int().positive().default(1200),
  /** The fan-out state machine; files above FAN_OUT_ABOVE_BYTES start it instead of being scored inline. Absent: no fan-out. */
  STATE_MACHINE_ARN: z.string().startsWith('arn:').optional(),
  FAN_OUT_ABOVE_BYTES: z.coerce.number().int().positive().optional(),
  /** Target size of a part of a split input (the plan step's). */
  PART_BYTES: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  /** Models whose files a Batch Transform job scores (the GPU stack's rule starts it); this function leaves them alone. Comma-separated. */
  TRANSFORM_MODELS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean)),
  /** Path-style S3 addressing, for S3-compatible endpoints (the embedded S3 via AWS_ENDPOINT_URL_S3). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type BatchEnv = z.infer<typeof BatchEnvSchema>;

export function batchEnv(env: NodeJS.ProcessEnv = process.env): BatchEnv {
  const result = BatchEnvSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

import { z } from 'zod';
import { jsonVariable, ModelVersionsSchema } from '../shared/env';

/** Environment of the Batch Transform steps; the BatchTransform construct sets every variable. */
export const BatchTransformEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  /** JSON: `{"<model>": "<package version its Triton model serves>"}`. */
  MODEL_VERSIONS: jsonVariable(ModelVersionsSchema),
  /** Rows per request line: at most Triton's max_batch_size, and small enough for the transform's MaxPayloadInMB. */
  ROWS_PER_REQUEST: z.coerce.number().int().positive().default(1024),
  /** Path-style S3 addressing, for S3-compatible endpoints (the embedded S3 via AWS_ENDPOINT_URL_S3). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type BatchTransformEnv = z.infer<typeof BatchTransformEnvSchema>;

/** Parses the environment, naming every bad variable. */
export function batchTransformEnv(env: NodeJS.ProcessEnv = process.env): BatchTransformEnv {
  const result = BatchTransformEnvSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

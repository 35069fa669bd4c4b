import { z } from 'zod';
import { jsonVariable, ModelVersionsSchema } from '../shared/env';

/** Environment of the capture converter; the CaptureConverter construct sets every variable. */
export const CaptureConvertEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  /** JSON: `{"<model>": "<package version its endpoint serves>"}`. */
  MODEL_VERSIONS: jsonVariable(ModelVersionsSchema),
  /** Path-style S3 addressing, for S3-compatible endpoints (the embedded S3 via AWS_ENDPOINT_URL_S3). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type CaptureConvertEnv = z.infer<typeof CaptureConvertEnvSchema>;

/** Parses the environment, naming every bad variable. */
export function captureConvertEnv(env: NodeJS.ProcessEnv = process.env): CaptureConvertEnv {
  const result = CaptureConvertEnvSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

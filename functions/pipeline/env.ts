import { z } from 'zod';

/** Environment of the pipeline step functions; the Pipeline construct sets every variable. */
export const PipelineEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  /** SNS topic for failure and promotion notifications. */
  NOTIFY_TOPIC_ARN: z.string().min(1).optional(),
  MAX_DROP_POINTS: z.coerce.number().default(0.5),
  EPOCHS: z.coerce.number().int().positive().default(40),
  QUANTIZE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  AUTO_APPROVE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Canary window of a candidate in seconds; 0 promotes at once. */
  CANARY_WINDOW_SECONDS: z.coerce.number().int().min(0).default(0),
  CANARY_WEIGHT: z.coerce.number().gt(0).max(1).default(0.1),
  CANARY_MIN_REQUESTS: z.coerce.number().int().min(1).default(100),
  CANARY_MAX_ERROR_RATE_INCREASE: z.coerce.number().min(0).max(1).default(0.01),
  CANARY_LATENCY_FACTOR: z.coerce.number().min(1).default(1.5),
  /** builtin: the Train function trains; sagemaker: Prepare also returns the training job's inputs for the state machine's SageMaker task. */
  TRAINING_MODE: z.enum(['builtin', 'sagemaker']).default('builtin'),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type PipelineEnv = z.infer<typeof PipelineEnvSchema>;

export function pipelineEnv(env: NodeJS.ProcessEnv = process.env): PipelineEnv {
  const result = PipelineEnvSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

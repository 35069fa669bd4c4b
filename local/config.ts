import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_LABEL_WINDOW_DAYS } from '../core/monitor/monitor';

/** Settings of the one-machine platform, read from the environment (see README). */
const EnvSchema = z.object({
  MLOPS_HOME: z.string().min(1).default('.mlops'),
  MLOPS_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MLOPS_S3_PORT: z.coerce.number().int().min(0).max(65535).default(4569),
  MLOPS_MONITOR_SECONDS: z.coerce.number().int().min(0).default(60),
  MLOPS_BATCH_FAN_OUT_BYTES: z.coerce.number().int().min(1).default(256 * 1024 * 1024),
  MLOPS_BATCH_PART_BYTES: z.coerce.number().int().min(1).default(64 * 1024 * 1024),
  MLOPS_BATCH_RESCAN_SECONDS: z.coerce.number().int().min(0).default(30),
  MLOPS_LABEL_WINDOW_DAYS: z.coerce.number().positive().default(DEFAULT_LABEL_WINDOW_DAYS),
  MLOPS_CANARY_SECONDS: z.coerce.number().int().min(0).default(300),
  MLOPS_CANARY_WEIGHT: z.coerce.number().gt(0).max(1).default(0.1),
  /** A JSON array (program and arguments) run as the training image of training mode sagemaker. */
  MLOPS_TRAINING_COMMAND: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '') return undefined;
      try {
        const parsed = z.array(z.string().min(1)).min(1).parse(JSON.parse(text));
        return parsed;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of the program and its arguments, such as ["npx","tsx","train.ts"]' });
        return z.NEVER;
      }
    }),
});

export interface LocalConfig {
  /** Data folder: model packages, embedded S3 data, reports. */
  readonly home: string;
  readonly port: number;
  readonly s3Port: number;
  /** Seconds between drift monitoring passes; 0 turns the timer off (passes run on demand). */
  readonly monitorSeconds?: number;
  /** Batch inputs above this many bytes are split into parts (gzip excepted). @default 256 MiB */
  readonly batchFanOutBytes?: number;
  /** Target size of a part of a split batch input. @default 64 MiB */
  readonly batchPartBytes?: number;
  /** Seconds between looks for batch inputs left without a manifest (a lost event, a holder that died); 0 looks only at start. @default 30 */
  readonly batchRescanSeconds?: number;
  /** Days late ground-truth labels are joined to captured predictions (the Lambda's LABEL_WINDOW_DAYS). @default 30 */
  readonly labelWindowDays?: number;
  /** Canary window of a retrained candidate in seconds; 0 promotes it at once. @default 300 */
  readonly canarySeconds?: number;
  /** Share of the requests that name no version sent to a canary. @default 0.1 */
  readonly canaryWeight?: number;
  /** Retraining runs this command under the training-job contract instead of the built-in trainer. @default - the built-in trainer */
  readonly trainingCommand?: readonly string[];
}

/** Reads and validates the environment, naming any bad variable. */
export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`environment variable ${String(issue.path[0])} ${issue.message} (got ${JSON.stringify(env[String(issue.path[0])])})`);
  }
  return { home: resolve(parsed.data.MLOPS_HOME), port: parsed.data.MLOPS_PORT, s3Port: parsed.data.MLOPS_S3_PORT, monitorSeconds: parsed.data.MLOPS_MONITOR_SECONDS, batchFanOutBytes: parsed.data.MLOPS_BATCH_FAN_OUT_BYTES, batchPartBytes: parsed.data.MLOPS_BATCH_PART_BYTES, batchRescanSeconds: parsed.data.MLOPS_BATCH_RESCAN_SECONDS, labelWindowDays: parsed.data.MLOPS_LABEL_WINDOW_DAYS, canarySeconds: parsed.data.MLOPS_CANARY_SECONDS, canaryWeight: parsed.data.MLOPS_CANARY_WEIGHT, trainingCommand: parsed.data.MLOPS_TRAINING_COMMAND };
}

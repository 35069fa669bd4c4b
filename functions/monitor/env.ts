import { DEFAULT_LABEL_WINDOW_DAYS, DEFAULT_MAX_WAIT_HOURS } from '../../core/monitor/monitor';
import { z } from 'zod';

const list = z.string().transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean));

/** Environment of the monitor function; the Monitoring construct sets the variables (LABEL_WINDOW_DAYS may keep its default). */
export const MonitorEnvSchema = z.object({
  MODEL_BUCKET: z.string().min(3),
  DATA_BUCKET: z.string().min(3),
  /** Models to monitor, comma-separated. */
  MODEL_NAMES: list,
  /** EventBridge bus that receives "Drift Confirmed" events (they start retraining). */
  EVENT_BUS_NAME: z.string().min(1).default('default'),
  MIN_ROWS: z.coerce.number().int().positive().default(200),
  /** Hours a window under MIN_ROWS waits at most before it is assessed anyway (with at least the drift floor of rows). */
  MAX_WAIT_HOURS: z.coerce.number().positive().default(DEFAULT_MAX_WAIT_HOURS),
  CONFIRM_RUNS: z.coerce.number().int().positive().default(2),
  OF_LAST_RUNS: z.coerce.number().int().positive().default(3),
  COOLDOWN_HOURS: z.coerce.number().nonnegative().default(24),
  /** Days after its prediction a late label is still joined; the prediction index's lifecycle rule should keep at least this long. */
  LABEL_WINDOW_DAYS: z.coerce.number().positive().default(DEFAULT_LABEL_WINDOW_DAYS),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export type MonitorEnv = z.infer<typeof MonitorEnvSchema>;

export function monitorEnv(env: NodeJS.ProcessEnv = process.env): MonitorEnv {
  const result = MonitorEnvSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

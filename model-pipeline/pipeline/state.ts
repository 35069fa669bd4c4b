import { z } from 'zod';
import { STEP_NAMES } from '../../core/pipeline-steps';


const StepRecordSchema = z.object({
  /** waiting: the step ran and has not decided yet (a canary check); it runs again. */
  status: z.enum(['succeeded', 'failed', 'waiting']),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** What the step decided or measured, for the run record and the dashboard. */
  summary: z.string(),
  error: z.string().optional(),
});

/**
 * A pipeline run's state, persisted after every step at `pipeline/<model>/<runId>/state.json`
 * in the data bucket. Steps read what earlier steps wrote here, so a re-run of the same run
 * id resumes after the last finished step instead of starting (and versioning) again.
 */
export const PipelineStateSchema = z.object({
  runId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits, dot, dash, underscore'),
  model: z.string(),
  trigger: z.object({ kind: z.enum(['drift', 'manual', 'schedule']), reason: z.string(), report: z.string().optional() }),
  startedAt: z.iso.datetime(),
  /** The version serving when the run started: the parent of the candidate and the gate's reference. */
  servingVersion: z.string(),
  steps: z.partialRecord(z.enum(STEP_NAMES), StepRecordSchema).default({}),
  /** Data keys written by prepare. */
  data: z.object({ train: z.string(), holdout: z.string(), trainRows: z.number().int(), holdoutRows: z.number().int(), labelFiles: z.array(z.string()) }).optional(),
  /** The training job of a run that trains with a user's container (training mode sagemaker): its name and model artifact's key in the data bucket. */
  training: z.object({ job: z.string(), artifact: z.string() }).optional(),
  candidateVersion: z.string().optional(),
  evaluation: z
    .object({ metric: z.string(), candidate: z.number(), serving: z.number(), rows: z.number().int() })
    .optional(),
  quantization: z.object({ servable: z.boolean(), failures: z.array(z.string()) }).optional(),
  gate: z.object({ passed: z.boolean(), reasons: z.array(z.string()) }).optional(),
  /** The candidate's canary, started by deploy and decided by canaryCheck. */
  canary: z
    .object({
      version: z.string(),
      weight: z.number(),
      startedAt: z.iso.datetime(),
      until: z.iso.datetime(),
      checks: z.number().int().default(0),
      /** The last check's verdict and why. */
      verdict: z.object({ action: z.enum(['promote', 'rollback', 'wait']), reasons: z.array(z.string()) }).optional(),
    })
    .optional(),
  /**
   * running; canary (the candidate serves a share of requests, undecided); promoted (serving now);
   * rolled-back (its canary failed; the previous version serves); approved (passed, awaiting manual
   * promotion); rejected (failed the gate); failed (a step failed).
   */
  outcome: z.enum(['running', 'canary', 'promoted', 'rolled-back', 'approved', 'rejected', 'failed']).default('running'),
});

export type PipelineState = z.infer<typeof PipelineStateSchema>;

/** Key of a run's state object. */
export function stateKey(model: string, runId: string): string {
  return `pipeline/${model}/${runId}/state.json`;
}

import { BlobNotFoundError } from '../../core/model/blob-store';
import { type PipelineState, PipelineStateSchema, STEP_NAMES, type StepName, stateKey } from './state';
import { type PipelineContext, STEPS } from './steps';

export interface RunRequest {
  readonly model: string;
  readonly runId: string;
  readonly trigger: PipelineState['trigger'];
}

/**
 * Loads a run's state, or creates it. A finished run (promoted, approved, rejected) is a
 * record, not a job: callers get it back unchanged. A failed one is reopened to resume.
 */
export async function openRun(ctx: PipelineContext, request: RunRequest): Promise<{ state: PipelineState; finished: boolean }> {
  const key = stateKey(request.model, request.runId);
  const existing = await loadState(ctx, key);
  if (existing && existing.outcome !== 'running' && existing.outcome !== 'failed') return { state: existing, finished: true };
  const state = existing
    ? { ...existing, outcome: 'running' as const }
    : PipelineStateSchema.parse({
        runId: request.runId,
        model: request.model,
        trigger: request.trigger,
        startedAt: new Date().toISOString(),
        servingVersion: await ctx.models.servingVersion(request.model),
      });
  await ctx.data.write(key, JSON.stringify(state, null, 2));
  return { state, finished: false };
}

/**
 * Runs one step of a run (a Step Functions task, or one turn of the local loop), persisting the
 * state. A step that already succeeded is not run again. A failure marks the run failed,
 * leaves the serving model untouched and sends a failure notification.
 */
export async function runStep(ctx: PipelineContext, state: PipelineState, name: StepName): Promise<PipelineState> {
  // Later steps still run after a verdict (deploy and notify follow a rejection); only a failure stops the run.
  if (state.steps[name]?.status === 'succeeded' || state.outcome === 'failed') return state;
  const key = stateKey(state.model, state.runId);
  const startedAt = new Date().toISOString();
  ctx.log?.(`pipeline ${state.runId}: ${name}…`);
  let next: PipelineState;
  try {
    const result = await STEPS[name]!(ctx, state);
    next = { ...result.state, steps: { ...state.steps, [name]: { status: 'succeeded', startedAt, finishedAt: new Date().toISOString(), summary: result.summary } } };
    ctx.log?.(`pipeline ${state.runId}: ${name}: ${result.summary}`);
  } catch (error) {
    const message = (error as Error).message;
    next = { ...state, outcome: 'failed', steps: { ...state.steps, [name]: { status: 'failed', startedAt, finishedAt: new Date().toISOString(), summary: `failed: ${message}`, error: message } } };
    ctx.log?.(`pipeline ${state.runId}: ${name} failed: ${message}`);
    await ctx.data.write(key, JSON.stringify(next, null, 2));
    await ctx.notify({
      subject: `${state.model}: retraining run ${state.runId} failed at ${name}`,
      model: state.model,
      runId: state.runId,
      outcome: 'failed',
      message: `${name} failed: ${message}\n${state.servingVersion} keeps serving.`,
    });
    return next;
  }
  await ctx.data.write(key, JSON.stringify(next, null, 2));
  return next;
}

/**
 * Runs (or resumes) a whole retraining run in order. Re-running a finished run id returns its
 * state and changes nothing; after a failed step, the same run id resumes at that step.
 */
export async function runPipeline(ctx: PipelineContext, request: RunRequest): Promise<PipelineState> {
  const opened = await openRun(ctx, request);
  let state = opened.state;
  if (opened.finished) return state;
  for (const name of STEP_NAMES) {
    state = await runStep(ctx, state, name);
    if (state.outcome === 'failed') break;
  }
  return state;
}

/** Reads a run's state, or null when the run has not started. */
export async function loadRun(ctx: Pick<PipelineContext, 'data'>, model: string, runId: string): Promise<PipelineState | null> {
  return loadState(ctx, stateKey(model, runId));
}

async function loadState(ctx: Pick<PipelineContext, 'data'>, key: string): Promise<PipelineState | null> {
  try {
    return PipelineStateSchema.parse(JSON.parse(new TextDecoder().decode(await ctx.data.read(key))));
  } catch (error) {
    if (error instanceof BlobNotFoundError) return null;
    throw error;
  }
}

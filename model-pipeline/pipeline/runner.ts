import { BlobNotFoundError } from '../../core/model/blob-store';
import { type PipelineState, PipelineStateSchema, STEP_NAMES, stateKey } from './state';
import { type PipelineContext, STEPS } from './steps';

export interface RunRequest {
  readonly model: string;
  readonly runId: string;
  readonly trigger: PipelineState['trigger'];
}

/**
 * Runs (or resumes) a retraining run: the steps in order, persisting the state after each.
 * Re-running a finished run id returns its state and changes nothing; a failed step stops the
 * run, leaves the serving model untouched and sends a failure notification (running the same
 * run id again resumes at that step).
 */
export async function runPipeline(ctx: PipelineContext, request: RunRequest): Promise<PipelineState> {
  const key = stateKey(request.model, request.runId);
  let state = await loadState(ctx, key);
  // A finished run is a record, not a job: running it again changes nothing. A failed one resumes at its failed step.
  if (state && state.outcome !== 'running' && state.outcome !== 'failed') return state;
  if (state?.outcome === 'failed') state = { ...state, outcome: 'running' };
  state ??= PipelineStateSchema.parse({
    runId: request.runId,
    model: request.model,
    trigger: request.trigger,
    startedAt: new Date().toISOString(),
    servingVersion: await ctx.models.servingVersion(request.model),
  });
  await ctx.data.write(key, JSON.stringify(state, null, 2));
  for (const name of STEP_NAMES) {
    if (state.steps[name]?.status === 'succeeded') continue;
    const startedAt = new Date().toISOString();
    ctx.log?.(`pipeline ${request.runId}: ${name}…`);
    try {
      const result = await STEPS[name]!(ctx, state);
      state = { ...result.state, steps: { ...state.steps, [name]: { status: 'succeeded', startedAt, finishedAt: new Date().toISOString(), summary: result.summary } } };
      ctx.log?.(`pipeline ${request.runId}: ${name}: ${result.summary}`);
    } catch (error) {
      const message = (error as Error).message;
      state = { ...state, outcome: 'failed', steps: { ...state.steps, [name]: { status: 'failed', startedAt, finishedAt: new Date().toISOString(), summary: `failed: ${message}`, error: message } } };
      await ctx.data.write(key, JSON.stringify(state, null, 2));
      ctx.log?.(`pipeline ${request.runId}: ${name} failed: ${message}`);
      await ctx.notify({
        subject: `${request.model}: retraining run ${request.runId} failed at ${name}`,
        model: request.model,
        runId: request.runId,
        outcome: 'failed',
        message: `${name} failed: ${message}\n${state.servingVersion} keeps serving.`,
      });
      return state;
    }
    await ctx.data.write(key, JSON.stringify(state, null, 2));
  }
  return state;
}

async function loadState(ctx: PipelineContext, key: string): Promise<PipelineState | null> {
  try {
    return PipelineStateSchema.parse(JSON.parse(new TextDecoder().decode(await ctx.data.read(key))));
  } catch (error) {
    if (error instanceof BlobNotFoundError) return null;
    throw error;
  }
}

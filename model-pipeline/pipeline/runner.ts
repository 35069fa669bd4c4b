import { BlobNotFoundError } from '../../core/model/blob-store';
import { abortCanary } from '../registry/registry-ops';
import { STEP_NAMES, type StepName } from '../../core/pipeline-steps';
import { type PipelineState, PipelineStateSchema, stateKey } from './state';
import { type PipelineContext, STEPS } from './steps';

export interface RunRequest {
  readonly model: string;
  readonly runId: string;
  readonly trigger: PipelineState['trigger'];
}

/**
 * Loads a run's state, or creates it. A finished run (promoted, rolled back, approved, rejected)
 * is a record, not a job: callers get it back unchanged. A failed one is reopened to resume, and
 * one whose canary is undecided goes on checking it.
 */
export async function openRun(ctx: PipelineContext, request: RunRequest): Promise<{ state: PipelineState; finished: boolean }> {
  const key = stateKey(request.model, request.runId);
  const existing = await loadState(ctx, key);
  if (existing && !['running', 'failed', 'canary'].includes(existing.outcome)) return { state: existing, finished: true };
  const state = existing
    ? { ...existing, outcome: existing.outcome === 'canary' ? ('canary' as const) : ('running' as const) }
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
    const status = result.waiting ? 'waiting' : 'succeeded';
    next = { ...result.state, steps: { ...state.steps, [name]: { status, startedAt, finishedAt: new Date().toISOString(), summary: result.summary } } };
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
 * state and changes nothing; after a failed step, the same run id resumes at that step. A step
 * that is waiting (the canary check) runs again every `canary.checkSeconds` until it decides.
 */
export async function runPipeline(ctx: PipelineContext, request: RunRequest): Promise<PipelineState> {
  const opened = await openRun(ctx, request);
  let state = opened.state;
  if (opened.finished) return state;
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (const name of STEP_NAMES) {
    // The built-in trainer writes the candidate itself: there is no artifact to import (and no
    // ImportArtifact state in the state machine), so the run record shows no such step either.
    if (name === 'importArtifact' && !state.training) continue;
    state = await runStep(ctx, state, name);
    while (state.steps[name]?.status === 'waiting' && state.outcome !== 'failed') {
      await sleep((ctx.options?.canary?.checkSeconds ?? 30) * 1000);
      state = await runStep(ctx, state, name);
    }
    if (state.outcome === 'failed') break;
  }
  return state;
}

/**
 * Ends the canary a run started when its check failed for good (the state machine's Catch on
 * CanaryCheck: retries exhausted, a timeout, a crash): every request returns to the serving
 * version, the registry records why, and the run is marked failed. Idempotent: a canary already
 * decided or ended (by the check itself, or by a person) is left as it is.
 */
export async function abortRunCanary(ctx: PipelineContext, state: PipelineState, reason: string): Promise<{ state: PipelineState; summary: string }> {
  const version = state.canary?.version ?? state.candidateVersion;
  const registry = await ctx.models.registryOf(state.model);
  let summary: string;
  if (version && registry.canary?.version === version) {
    await abortCanary(ctx.models, state.model, `the canary check failed: ${reason}`, 'retired');
    summary = `canary ${version} aborted after its check failed (${reason}); ${registry.serving ?? state.servingVersion} serves every request`;
  } else {
    summary = version ? `canary ${version} is no longer running; nothing to abort` : 'the run started no canary; nothing to abort';
  }
  ctx.log?.(`pipeline ${state.runId}: ${summary}`);
  const now = new Date().toISOString();
  const failed = state.steps.canaryCheck?.status === 'failed';
  const next: PipelineState = {
    ...state,
    outcome: 'failed',
    steps: failed ? state.steps : { ...state.steps, canaryCheck: { status: 'failed', startedAt: state.steps.canaryCheck?.startedAt ?? now, finishedAt: now, summary: `failed: ${reason}; ${summary}`, error: reason } },
  };
  await ctx.data.write(stateKey(state.model, state.runId), JSON.stringify(next, null, 2));
  return { state: next, summary };
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

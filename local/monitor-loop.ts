import type { BlobStore } from '../core/model/blob-store';
import { type MonitorOutcome, type MonitorOptions, runMonitor } from '../core/monitor/monitor';
import type { ModelRepository } from '../core/model/registry';
import { runPipeline } from '../model-pipeline/pipeline/runner';
import type { PipelineContext } from '../model-pipeline/pipeline/steps';

/**
 * The local twin of EventBridge schedule → monitor Lambda → "Drift Confirmed" → pipeline:
 * every interval the monitor runs for each model, and a confirmed drift starts a retraining
 * run whose id is the trigger's (so a repeated trigger never starts a second run).
 */
export class MonitorLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<MonitorOutcome[]> | null = null;

  constructor(
    private readonly models: ModelRepository,
    private readonly data: BlobStore,
    private readonly pipeline: PipelineContext,
    private readonly log: (line: string) => void,
    private readonly options: MonitorOptions = {},
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.runOnce(), intervalMs);
    this.timer.unref();
  }

  /** One monitoring pass over every model (a pass already under way is joined, not doubled). */
  runOnce(): Promise<MonitorOutcome[]> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async pass(): Promise<MonitorOutcome[]> {
    const outcomes: MonitorOutcome[] = [];
    for (const model of await this.models.listModels()) {
      try {
        const outcome = await runMonitor({ models: this.models, data: this.data, options: this.options }, model);
        outcomes.push(outcome);
        if (outcome.status === 'waiting') continue;
        this.log(`monitor: ${model} ${outcome.version}: ${outcome.alert ? `DRIFT: ${outcome.alarms.join('; ')}` : 'no drift'} (${outcome.rows} rows, ${outcome.report.quality?.labeledRows ?? 0} late labels) → ${outcome.htmlKey}`);
        if (outcome.trigger) {
          this.log(`monitor: drift confirmed for ${model}; starting retraining run ${outcome.trigger.id}`);
          await this.pipeline.notify({ subject: `${model}: drift confirmed, retraining started`, model, runId: outcome.trigger.id, outcome: 'running', message: `${outcome.trigger.reason}\nReport: ${outcome.htmlKey}` });
          const state = await runPipeline(this.pipeline, { model, runId: outcome.trigger.id, trigger: { kind: 'drift', reason: outcome.trigger.reason, report: outcome.reportKey } });
          this.log(`pipeline ${state.runId}: ${state.outcome}${state.candidateVersion ? ` (candidate ${state.candidateVersion})` : ''}`);
        }
      } catch (error) {
        this.log(`monitor: ${model} failed: ${(error as Error).message}`);
      }
    }
    return outcomes;
  }
}

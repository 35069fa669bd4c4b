import { percentiles } from '../../core/protocol/llm-stream';
import type { GenerationOutcome } from '../../functions/llm-stream/generate';

interface Sample {
  readonly at: number;
  readonly model: string;
  readonly ttftMs?: number;
  readonly tokensPerSecond?: number;
  readonly tokens: number;
  readonly failed: boolean;
}

/** p50, p95 and p99 of a measure; null without samples. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** What the dashboard shows of one LLM over the window. */
export interface LlmModelStats {
  readonly model: string;
  readonly generations: number;
  readonly failed: number;
  readonly tokens: number;
  readonly timeToFirstTokenMs: Percentiles;
  readonly tokensPerSecond: Percentiles;
}

/**
 * Time to first token and decode tokens/s of the local LLM route for the dashboard, per model,
 * over a sliding window: the same measures the Lambda publishes to CloudWatch, where the
 * dashboard of infra/constructs/llm-endpoint.ts shows their p50/p95/p99. Fixed memory: at most
 * `maxSamples` generations are kept.
 */
export class LlmStats {
  private readonly samples: Sample[] = [];

  constructor(
    private readonly windowSeconds = 300,
    private readonly maxSamples = 10_000,
  ) {}

  /** Records a generation that reached the model (client errors are not generations). */
  record(outcome: GenerationOutcome, now = Date.now()): void {
    if (outcome.result === 'rejected' || outcome.result === 'cancelled') return;
    this.samples.push({
      at: now,
      model: outcome.model,
      ttftMs: outcome.summary.timeToFirstTokenMs,
      tokensPerSecond: outcome.summary.tokensPerSecond,
      tokens: outcome.summary.tokens,
      failed: outcome.result === 'failed',
    });
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);
  }

  /** One entry per model seen in the window, by name. */
  summary(now = Date.now()): LlmModelStats[] {
    const since = now - this.windowSeconds * 1000;
    const recent = this.samples.filter((s) => s.at > since);
    const models = [...new Set(recent.map((s) => s.model))].sort();
    return models.map((model) => {
      const own = recent.filter((s) => s.model === model);
      const of = (values: Array<number | undefined>): Percentiles => {
        const [p50, p95, p99] = percentiles(values.filter((v): v is number => v !== undefined), [0.5, 0.95, 0.99]);
        return { p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null };
      };
      return {
        model,
        generations: own.length,
        failed: own.filter((s) => s.failed).length,
        tokens: own.reduce((sum, s) => sum + s.tokens, 0),
        timeToFirstTokenMs: of(own.map((s) => s.ttftMs)),
        tokensPerSecond: of(own.map((s) => s.tokensPerSecond)),
      };
    });
  }
}

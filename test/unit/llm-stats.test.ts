import { describe, expect, it } from 'vitest';
import type { GenerationOutcome } from '../../functions/llm-stream/generate';
import { LlmStats } from '../../local/dashboard/llm-stats';

function outcome(result: GenerationOutcome['result'], ttft: number | undefined, rate: number | undefined, model = 'chat'): GenerationOutcome {
  return { model, status: 200, result, attempts: 1, summary: { tokens: 10, timeToFirstTokenMs: ttft, tokensPerSecond: rate, durationMs: 500 } };
}

describe('LlmStats', () => {
  it('gives p50, p95 and p99 of time to first token and tokens/s per model', () => {
    const stats = new LlmStats();
    for (let i = 1; i <= 100; i++) stats.record(outcome('complete', i, 200 - i), 1_000_000);

    expect(stats.summary(1_000_000)).toEqual([
      { model: 'chat', generations: 100, failed: 0, tokens: 1000, timeToFirstTokenMs: { p50: 50, p95: 95, p99: 99 }, tokensPerSecond: { p50: 149, p95: 194, p99: 198 } },
    ]);
  });

  it('counts failed generations and leaves out rejected and cancelled requests', () => {
    const stats = new LlmStats();
    stats.record(outcome('complete', 10, 50));
    stats.record(outcome('failed', 20, undefined));
    stats.record(outcome('rejected', undefined, undefined));
    stats.record(outcome('cancelled', 5, undefined));

    expect(stats.summary()[0]).toMatchObject({ generations: 2, failed: 1, tokensPerSecond: { p50: 50, p95: 50, p99: 50 } });
  });

  it('forgets generations older than its window', () => {
    const stats = new LlmStats(60);
    stats.record(outcome('complete', 10, 50), 0);

    expect(stats.summary(61_000)).toEqual([]);
  });
});

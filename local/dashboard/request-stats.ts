/**
 * Live request rate and latency for the dashboard: per-second buckets over a sliding window,
 * with latencies kept per bucket for percentiles. Fixed memory: at most `windowSeconds`
 * buckets of at most `samplesPerSecond` latencies.
 */
export class RequestStats {
  private readonly buckets = new Map<number, { requests: number; rows: number; latencies: number[] }>();

  constructor(
    private readonly windowSeconds = 300,
    private readonly samplesPerSecond = 500,
  ) {}

  record(event: { rows: number; latencyMs: number }, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = { requests: 0, rows: 0, latencies: [] };
      this.buckets.set(second, bucket);
      for (const key of this.buckets.keys()) if (key <= second - this.windowSeconds) this.buckets.delete(key);
    }
    bucket.requests++;
    bucket.rows += event.rows;
    if (bucket.latencies.length < this.samplesPerSecond) bucket.latencies.push(event.latencyMs);
  }

  /** One point per second of the window (oldest first): requests, rows, p50 and p95 latency. */
  series(now = Date.now()): { t: number; requests: number; rows: number; p50: number | null; p95: number | null }[] {
    const last = Math.floor(now / 1000);
    const points = [];
    for (let second = last - this.windowSeconds + 1; second <= last; second++) {
      const bucket = this.buckets.get(second);
      const sorted = bucket ? [...bucket.latencies].sort((a, b) => a - b) : [];
      const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null);
      points.push({ t: second * 1000, requests: bucket?.requests ?? 0, rows: bucket?.rows ?? 0, p50: at(0.5), p95: at(0.95) });
    }
    return points;
  }
}

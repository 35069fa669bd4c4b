import type { VersionWindowStats } from '../../model-pipeline/pipeline/canary';

interface VersionBucket {
  requests: number;
  errors: number;
  latencies: number[];
}

/**
 * Live request rate and latency for the dashboard: per-second buckets over a sliding window,
 * with latencies kept per bucket for percentiles. Fixed memory: at most `windowSeconds`
 * buckets of at most `samplesPerSecond` latencies. The same per model version, over a longer
 * window (`versionWindowSeconds`), so a canary can be compared with the serving version.
 */
export class RequestStats {
  private readonly buckets = new Map<number, { requests: number; rows: number; latencies: number[] }>();
  private readonly perVersion = new Map<string, Map<number, VersionBucket>>();

  constructor(
    private readonly windowSeconds = 300,
    private readonly samplesPerSecond = 500,
    private readonly versionWindowSeconds = 3600,
  ) {}

  /** A request a model version failed (load or prediction error). */
  recordError(event: { model: string; version: string }, now = Date.now()): void {
    this.versionBucket(event.model, event.version, now).errors++;
  }

  /** Requests, errors and p99 latency of one model version between two instants (within the version window). */
  versionStats(model: string, version: string, since: Date, until: Date): VersionWindowStats {
    const { requests, errors, latencies } = this.collect(model, version, since, until);
    return { requests, errors, p99Ms: percentile(latencies, 0.99) };
  }

  /** Every model version seen in the version window, with its totals (for the dashboard). */
  versions(now = Date.now()): { model: string; version: string; requests: number; errors: number; p50: number | null; p99: number | null }[] {
    const since = new Date(now - this.versionWindowSeconds * 1000);
    return [...this.perVersion.keys()].sort().map((key) => {
      const [model, version] = key.split('@') as [string, string];
      const { requests, errors, latencies } = this.collect(model, version, since, new Date(now));
      return { model, version, requests, errors, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
    });
  }

  /** Totals of one version's buckets between two instants (whole seconds). */
  private collect(model: string, version: string, since: Date, until: Date): { requests: number; errors: number; latencies: number[] } {
    let requests = 0;
    let errors = 0;
    const latencies: number[] = [];
    const first = Math.floor(since.getTime() / 1000);
    const last = Math.floor(until.getTime() / 1000);
    for (const [second, bucket] of this.perVersion.get(`${model}@${version}`) ?? []) {
      if (second < first || second > last) continue;
      requests += bucket.requests + bucket.errors;
      errors += bucket.errors;
      latencies.push(...bucket.latencies);
    }
    return { requests, errors, latencies };
  }

  private versionBucket(model: string, version: string, now: number): VersionBucket {
    const key = `${model}@${version}`;
    let buckets = this.perVersion.get(key);
    if (!buckets) this.perVersion.set(key, (buckets = new Map()));
    const second = Math.floor(now / 1000);
    let bucket = buckets.get(second);
    if (!bucket) {
      buckets.set(second, (bucket = { requests: 0, errors: 0, latencies: [] }));
      for (const old of buckets.keys()) if (old <= second - this.versionWindowSeconds) buckets.delete(old);
    }
    return bucket;
  }

  record(event: { model?: string; version?: string; rows: number; latencyMs: number }, now = Date.now()): void {
    if (event.model !== undefined && event.version !== undefined) {
      const bucket = this.versionBucket(event.model, event.version, now);
      bucket.requests++;
      if (bucket.latencies.length < this.samplesPerSecond) bucket.latencies.push(event.latencyMs);
    }
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

/** The q-quantile of unsorted values (nearest rank), or null when there are none. */
function percentile(values: number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

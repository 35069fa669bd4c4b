import { randomUUID } from 'node:crypto';
import { DataPrefixes } from '../layout';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';

/**
 * Capture format: the contract between the serving path (writer) and the drift monitor
 * (reader).
 *
 * Objects: `capture/<model>/<version>/<YYYY>/<MM>/<DD>/<HH>/<YYYYMMDDTHHMMSSZ>-<uuid>.jsonl`
 * (UTC hour of the first record), one CaptureRecord per line, one line per scored row.
 * Feature values are as the client meant them: numbers, categorical level strings, null
 * for missing. Objects are immutable; a reader lists a model version's hour prefixes.
 */
export interface CaptureRecord {
  /** Format version. */
  readonly v: 1;
  /** The API request id (API Gateway's, or the local server's); labels join on it. */
  readonly requestId: string;
  /** Row index inside the request. */
  readonly row: number;
  /** ISO-8601 time the prediction was made. */
  readonly ts: string;
  readonly model: string;
  readonly version: string;
  readonly features: Record<string, number | string | null>;
  /** label + probabilities (classifiers, probabilities in class order) or value (regression). */
  readonly prediction: { readonly label?: string; readonly probabilities?: number[]; readonly value?: number };
  /** Server-side latency of the whole request in milliseconds. */
  readonly latencyMs: number;
}

/** The object key of a capture file written at `at`. */
export function captureKey(model: string, version: string, at: Date, unique: string = randomUUID()): string {
  const iso = at.toISOString();
  const [date, time] = iso.split('T') as [string, string];
  const [yyyy, mm, dd] = date.split('-');
  const hh = time.slice(0, 2);
  const stamp = `${date.replaceAll('-', '')}T${time.slice(0, 8).replaceAll(':', '')}Z`;
  return `${DataPrefixes.capture}${model}/${version}/${yyyy}/${mm}/${dd}/${hh}/${stamp}-${unique}.jsonl`;
}

/** When a capture object was written, from its key (captureKey's stamp), or null for a key in another form. */
export function captureKeyTime(key: string): Date | null {
  const m = /\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[^/]*$/.exec(key);
  if (!m) return null;
  const at = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** Prefix of a model version's capture for one UTC hour. */
export function captureHourPrefix(model: string, version: string, hour: Date): string {
  const iso = hour.toISOString();
  return `${DataPrefixes.capture}${model}/${version}/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(11, 13)}/`;
}

/** Turns one scored request into capture records (one per row). */
export function toCaptureRecords(manifest: Manifest, matrix: Matrix, scores: BatchScores, requestId: string, latencyMs: number, at: Date): CaptureRecord[] {
  const classes = classesOf(manifest);
  const features = manifest.input.features;
  const records: CaptureRecord[] = [];
  for (let r = 0; r < matrix.rows; r++) {
    const values: Record<string, number | string | null> = {};
    features.forEach((feature, j) => {
      const x = matrix.data[r * matrix.cols + j]!;
      values[feature.name] = Number.isNaN(x) ? null : feature.type === 'categorical' ? feature.levels[x]! : x;
    });
    const row = Array.from(scores.values.subarray(r * scores.width, (r + 1) * scores.width));
    let prediction: CaptureRecord['prediction'];
    if (classes.length) {
      let best = 0;
      for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
      prediction = { label: classes[best], probabilities: row };
    } else {
      prediction = { value: row[0] };
    }
    records.push({ v: 1, requestId, row: r, ts: at.toISOString(), model: manifest.name, version: manifest.version, features: values, prediction, latencyMs });
  }
  return records;
}

export interface CaptureOptions {
  /** Share of requests captured, 0–1. @default 1 */
  readonly sampleRate?: number;
  /** Records buffered before a write. @default 1000 */
  readonly maxRecords?: number;
  /** Longest a record waits in the buffer, in milliseconds. @default 10000 */
  readonly maxAgeMs?: number;
  /** Uniform [0, 1) source for sampling. @default Math.random */
  readonly random?: () => number;
  /** Told about failed writes; capture never fails a request. */
  readonly onError?: (error: unknown) => void;
}

/** Writes a capture object. */
export type CaptureWriter = (key: string, body: string) => Promise<void>;

/**
 * Samples, buffers and writes capture records off the request path: a request only pushes
 * to an array; writes happen when the buffer fills or ages, in the background. Up to
 * maxAgeMs of records can be lost if the process dies, which capture (a sample) tolerates.
 */
export class CaptureBuffer {
  private buffers = new Map<string, CaptureRecord[]>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();
  private readonly sampleRate: number;
  private readonly maxRecords: number;
  private readonly maxAgeMs: number;
  private readonly random: () => number;

  constructor(
    private readonly write: CaptureWriter,
    private readonly options: CaptureOptions = {},
  ) {
    this.sampleRate = options.sampleRate ?? 1;
    this.maxRecords = options.maxRecords ?? 1000;
    this.maxAgeMs = options.maxAgeMs ?? 10_000;
    this.random = options.random ?? Math.random;
  }

  /** Offers one scored request; it is kept with probability sampleRate. */
  offer(manifest: Manifest, matrix: Matrix, scores: BatchScores, requestId: string, latencyMs: number): void {
    if (this.sampleRate <= 0 || (this.sampleRate < 1 && this.random() >= this.sampleRate)) return;
    const key = `${manifest.name}\u0000${manifest.version}`;
    const records = toCaptureRecords(manifest, matrix, scores, requestId, latencyMs, new Date());
    const buffer = this.buffers.get(key);
    if (buffer) buffer.push(...records);
    else this.buffers.set(key, records);
    this.count += records.length;
    if (this.count >= this.maxRecords) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.maxAgeMs);
      this.timer.unref();
    }
  }

  /** Writes everything buffered; resolves when all writes so far have finished. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const buffers = this.buffers;
    this.buffers = new Map();
    this.count = 0;
    for (const records of buffers.values()) {
      const first = records[0]!;
      const body = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const write = this.write(captureKey(first.model, first.version, new Date(first.ts)), body)
        .catch((error) => this.options.onError?.(error))
        .finally(() => this.inFlight.delete(write));
      this.inFlight.add(write);
    }
    await Promise.all(this.inFlight);
  }
}

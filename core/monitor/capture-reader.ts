import { coerceFeature } from '../data/coerce';
import { classesOf, type Manifest } from '../model/manifest';

/** Why a capture line was not used; the report counts each. */
export type SkipReason = 'invalid_json' | 'not_a_record' | 'other_model_or_version' | 'missing_feature' | 'bad_value' | 'bad_prediction';

/** Rows decoded from capture lines: the model's input matrix and its scores, in chunks. */
export interface CaptureChunk {
  readonly x: Float32Array;
  readonly scores: Float32Array;
  readonly width: number;
  readonly rows: number;
  /** Each row's API request id; late labels join on it and the row inside the request. */
  readonly requestIds: readonly string[];
  /** Each row's index inside its request (0 where the record names none). */
  readonly requestRows: Float64Array;
  /** When each prediction was made, in epoch milliseconds (NaN where the record's time is unreadable). */
  readonly capturedAt: Float64Array;
}

/**
 * Decodes capture JSONL (format: core/capture/capture.ts) for one model version into the
 * encoding the drift window takes, tolerating garbage: truncated lines, records of another
 * version, missing fields and bad values are counted by reason and skipped, never fatal.
 */
export class CaptureDecoder {
  readonly skipped: Record<SkipReason, number> = { invalid_json: 0, not_a_record: 0, other_model_or_version: 0, missing_feature: 0, bad_value: 0, bad_prediction: 0 };
  private readonly width: number;
  private readonly scoreWidth: number;
  /** The features as capture stores them: every one may be null (missing). */
  private readonly features: Manifest['input']['features'];
  private x: Float32Array;
  private scores: Float32Array;
  private requestIds: string[];
  private requestRows: Float64Array;
  private capturedAt: Float64Array;
  private lastTs: unknown;
  private lastAt = Number.NaN;
  private rows = 0;

  constructor(
    private readonly manifest: Manifest,
    private readonly chunkRows = 4096,
  ) {
    this.width = manifest.input.features.length;
    this.features = manifest.input.features.map((f) => ({ ...f, nullable: true }));
    this.scoreWidth = Math.max(classesOf(manifest).length, 1);
    this.x = new Float32Array(chunkRows * this.width);
    this.scores = new Float32Array(chunkRows * this.scoreWidth);
    this.requestIds = new Array<string>(chunkRows);
    this.requestRows = new Float64Array(chunkRows);
    this.capturedAt = new Float64Array(chunkRows);
  }

  /** Decodes the lines of one capture object; returns the chunks that filled up. */
  addText(text: string): CaptureChunk[] {
    const full: CaptureChunk[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      if (this.addLine(line) && this.rows === this.chunkRows) full.push(this.take());
    }
    return full;
  }

  /** The rows decoded since the last full chunk. */
  flush(): CaptureChunk | null {
    return this.rows ? this.take() : null;
  }

  get skippedTotal(): number {
    return Object.values(this.skipped).reduce((a, b) => a + b, 0);
  }

  private addLine(line: string): boolean {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      this.skipped.invalid_json++;
      return false;
    }
    if (typeof record !== 'object' || record === null || (record as { v?: unknown }).v !== 1) {
      this.skipped.not_a_record++;
      return false;
    }
    const r = record as { requestId?: unknown; row?: unknown; ts?: unknown; model?: unknown; version?: unknown; features?: unknown; prediction?: { probabilities?: unknown; value?: unknown } };
    if (r.model !== this.manifest.name || r.version !== this.manifest.version) {
      this.skipped.other_model_or_version++;
      return false;
    }
    if (typeof r.features !== 'object' || r.features === null) {
      this.skipped.missing_feature++;
      return false;
    }
    const features = r.features as Record<string, unknown>;
    const offset = this.rows * this.width;
    for (let j = 0; j < this.width; j++) {
      const feature = this.features[j]!;
      const raw = features[feature.name];
      if (raw === undefined) {
        this.skipped.missing_feature++;
        return false;
      }
      // Capture stores what was served; a value the API accepted decodes, null is missing.
      const value = typeof raw === 'number' && feature.type === 'numeric' ? raw : coerceFeature(feature, raw);
      if (typeof value === 'string') {
        this.skipped.bad_value++;
        return false;
      }
      this.x[offset + j] = value;
    }
    const scores = this.scoreWidth === 1 && this.manifest.task === 'regression' ? [r.prediction?.value] : r.prediction?.probabilities;
    if (!Array.isArray(scores) || scores.length !== this.scoreWidth || !scores.every((p) => typeof p === 'number' && Number.isFinite(p))) {
      this.skipped.bad_prediction++;
      return false;
    }
    this.scores.set(scores as number[], this.rows * this.scoreWidth);
    this.requestIds[this.rows] = String(r.requestId);
    this.requestRows[this.rows] = typeof r.row === 'number' ? r.row : 0;
    // The rows of a request share its time: parse it once per run of equal values.
    if (r.ts !== this.lastTs) {
      this.lastTs = r.ts;
      this.lastAt = typeof r.ts === 'string' ? Date.parse(r.ts) : Number.NaN;
    }
    this.capturedAt[this.rows] = this.lastAt;
    this.rows++;
    return true;
  }

  private take(): CaptureChunk {
    const n = this.rows;
    const chunk = {
      x: this.x.slice(0, n * this.width),
      scores: this.scores.slice(0, n * this.scoreWidth),
      width: this.scoreWidth,
      rows: n,
      requestIds: this.requestIds.slice(0, n),
      requestRows: this.requestRows.slice(0, n),
      capturedAt: this.capturedAt.slice(0, n),
    };
    this.rows = 0;
    return chunk;
  }
}

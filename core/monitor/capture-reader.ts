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
  /** Ground truth per row (class index or regression value), NaN where no label arrived. */
  readonly labels: Float64Array;
}

/** Late ground truth, keyed by `<requestId>#<row>`: the label as the data team wrote it. */
export type LabelLookup = ReadonlyMap<string, string | number>;

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
  private labels: Float64Array;
  private rows = 0;
  /** Rows that found their ground truth. */
  labelled = 0;

  constructor(
    private readonly manifest: Manifest,
    private readonly chunkRows = 4096,
    private readonly groundTruth: LabelLookup = new Map(),
  ) {
    this.width = manifest.input.features.length;
    this.features = manifest.input.features.map((f) => ({ ...f, nullable: true }));
    this.scoreWidth = Math.max(classesOf(manifest).length, 1);
    this.x = new Float32Array(chunkRows * this.width);
    this.scores = new Float32Array(chunkRows * this.scoreWidth);
    this.labels = new Float64Array(chunkRows);
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
    const r = record as { requestId?: unknown; row?: unknown; model?: unknown; version?: unknown; features?: unknown; prediction?: { probabilities?: unknown; value?: unknown } };
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
    this.labels[this.rows] = this.labelOf(r.requestId, r.row);
    this.rows++;
    return true;
  }

  /** The label joined by request id and row, as a class index or value; NaN when none arrived. */
  private labelOf(requestId: unknown, row: unknown): number {
    if (this.groundTruth.size === 0) return Number.NaN;
    const label = this.groundTruth.get(`${String(requestId)}#${typeof row === 'number' ? row : 0}`);
    if (label === undefined) return Number.NaN;
    const classes = this.manifest.output.classes ?? [];
    const value = classes.length ? classes.indexOf(String(label)) : Number(label);
    if (value < 0 || !Number.isFinite(value)) return Number.NaN;
    this.labelled++;
    return value;
  }

  private take(): CaptureChunk {
    const chunk = { x: this.x.slice(0, this.rows * this.width), scores: this.scores.slice(0, this.rows * this.scoreWidth), width: this.scoreWidth, rows: this.rows, labels: this.labels.slice(0, this.rows) };
    this.rows = 0;
    return chunk;
  }
}

import { DataPrefixes } from '../layout';
import { argmaxRow } from '../model/argmax';
import type { BlobStore } from '../model/blob-store';
import type { CaptureChunk } from './capture-reader';

/**
 * The prediction index: every captured row the monitor reads, cut down to what joining a late
 * label needs (request id, row, capture time, predicted class index or value), so a label that
 * arrives days after the run that read its prediction still finds it. Objects are written once:
 * DataPrefixes.predictionIndex + `<model>/<version>/<YYYY-MM-DD>/<run>-<part>.jsonl`, by UTC day of
 * capture, one `{"id":"<requestId>","row":0,"t":<epoch ms>,"p":<class index or value>}` per line.
 * The monitor reads only the days of the label window and never deletes (its store cannot):
 * older objects are for a lifecycle rule on the prefix to expire.
 */

/** One indexed prediction. */
export interface IndexedPrediction {
  /** UTC day of capture, YYYY-MM-DD. */
  readonly day: string;
  /** Predicted class index (classification) or value (regression). */
  readonly predicted: number;
}

/** Rows buffered before a part is written when the caller sets no size: some MB of lines. */
export const INDEX_PART_ROWS = 50_000;

/** The key labels and predictions share: request id and row inside the request. */
export function predictionKey(requestId: string, row: number): string {
  return `${requestId}#${row}`;
}

function indexPrefix(model: string, version: string): string {
  return `${DataPrefixes.predictionIndex}${model}/${version}/`;
}

const DAY_MS = 86_400_000;

function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Buffers a run's rows by day of capture and writes them as index parts of at most `partRows` rows. */
export class PredictionIndexWriter {
  private readonly days = new Map<string, LineBuffer>();
  private buffered = 0;
  private parts = 0;

  /**
   * @param run names this run's objects (its time stamp), so runs never overwrite each other
   * @param fallbackTime stands for the capture time of a record whose own is unreadable (the run's time)
   */
  constructor(
    private readonly data: BlobStore,
    private readonly model: string,
    private readonly version: string,
    private readonly run: string,
    private readonly task: 'classification' | 'regression',
    private readonly fallbackTime: number,
    private readonly partRows = INDEX_PART_ROWS,
  ) {}

  /** Adds a decoded chunk's rows; writes a part once `partRows` rows wait. */
  async add(chunk: CaptureChunk): Promise<void> {
    const width = chunk.width;
    // The rows of a request share its id, and most rows their day: each is worked out once per run of equal values.
    let id: string | undefined;
    let encodedId = '';
    let dayNumber = Number.NaN;
    let lines: LineBuffer | undefined;
    for (let r = 0; r < chunk.rows; r++) {
      const at = Number.isFinite(chunk.capturedAt[r]!) ? chunk.capturedAt[r]! : this.fallbackTime;
      if (chunk.requestIds[r] !== id) encodedId = JSON.stringify((id = chunk.requestIds[r]!));
      if (Math.floor(at / DAY_MS) !== dayNumber) {
        dayNumber = Math.floor(at / DAY_MS);
        const day = utcDay(at);
        lines = this.days.get(day) ?? new LineBuffer();
        this.days.set(day, lines);
      }
      const predicted = this.task === 'regression' ? chunk.scores[r * width]! : argmaxRow({ values: chunk.scores, width }, r);
      lines!.append(`{"id":${encodedId},"row":${chunk.requestRows[r]},"t":${at},"p":${predicted}}`);
    }
    this.buffered += chunk.rows;
    if (this.buffered >= this.partRows) await this.flush();
  }

  /** Writes the rows that wait, one object per day of capture. */
  async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const part = String(this.parts++).padStart(4, '0');
    for (const [day, lines] of this.days) await this.data.write(`${indexPrefix(this.model, this.version)}${day}/${this.run}-${part}.jsonl`, lines.bytes());
    this.days.clear();
    this.buffered = 0;
  }
}

const encoder = new TextEncoder();

/**
 * Lines as UTF-8 bytes in one growing array, so a part's rows take their size in bytes rather
 * than a string object each; they are encoded a batch of lines at a time.
 */
class LineBuffer {
  private buffer = new Uint8Array(1 << 16);
  private length = 0;
  private pending: string[] = [];

  append(line: string): void {
    if (this.pending.push(line) === 1024) this.encodePending();
  }

  bytes(): Uint8Array {
    this.encodePending();
    return this.buffer.subarray(0, this.length);
  }

  private encodePending(): void {
    if (this.pending.length === 0) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const needed = this.length + 3 * text.length;
    if (needed > this.buffer.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this.buffer.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.length += encoder.encodeInto(text, this.buffer.subarray(this.length)).written;
  }
}

/**
 * The indexed predictions, made at or after `since` (epoch ms), of the wanted prediction keys.
 * Reads one index object at a time, newest day first, keeps only matches and stops once all are
 * found, so memory is bounded by the wanted keys, not by the index. A row indexed twice (a run
 * that failed after writing its index reads its capture again) is found once.
 */
export async function findPredictions(data: BlobStore, model: string, version: string, wanted: Pick<ReadonlySet<string>, 'has' | 'size'>, since: number): Promise<Map<string, IndexedPrediction>> {
  const found = new Map<string, IndexedPrediction>();
  if (wanted.size === 0) return found;
  const prefix = indexPrefix(model, version);
  const firstDay = utcDay(since);
  const keys = (await data.list(prefix)).filter((key) => key.slice(prefix.length, prefix.length + 10) >= firstDay).reverse();
  for (const key of keys) {
    const day = key.slice(prefix.length, prefix.length + 10);
    for (const line of new TextDecoder().decode(await data.read(key)).split('\n')) {
      const entry = parseLine(line);
      if (!entry || entry.t < since) continue;
      const id = predictionKey(entry.id, entry.row);
      if (wanted.has(id)) found.set(id, { day, predicted: entry.p });
    }
    if (found.size === wanted.size) break;
  }
  return found;
}

/** An index line, or null for one that is not (an object cut short, written by hand). */
function parseLine(line: string): { id: string; row: number; t: number; p: number } | null {
  if (line === '') return null;
  try {
    const entry = JSON.parse(line) as { id?: unknown; row?: unknown; t?: unknown; p?: unknown };
    return typeof entry.id === 'string' && typeof entry.row === 'number' && typeof entry.t === 'number' && typeof entry.p === 'number' ? (entry as { id: string; row: number; t: number; p: number }) : null;
  } catch {
    return null;
  }
}

import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import type { Scorer } from './scorer';

/**
 * Rows parsed for one model call: the feature matrix and, per row, its line number and
 * pass-through values, in `lines` and `ids` (see `commit`) or in the caller's own `extra`.
 */
export interface Chunk<Extra = undefined> {
  readonly data: Float32Array;
  rows: number;
  readonly lines: number[];
  readonly ids: unknown[][];
  /** The caller's per-chunk state, reused with the buffer (CSV scoring keeps each row's formatted output prefix there). */
  readonly extra: Extra;
}

/**
 * Pipelined scoring over a few reused buffers: while ONNX Runtime scores one chunk (off the
 * event loop, on its own thread), the caller parses the next ones into the other buffers.
 * Chunks are written in input order. This puts parsing and inference on the machine's two
 * cores at once; more than two buffers let either side run ahead while the other is
 * descheduled on a busy machine, instead of both waiting in turn.
 */
export class ChunkPipeline<Extra = undefined> {
  private readonly buffers: Chunk<Extra>[];
  /** Per buffer, the job (score, then write) of its last submission. */
  private readonly jobs: Promise<void>[];
  private active = 0;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly scorer: Scorer,
    private readonly chunkRows: number,
    private readonly write: (chunk: Chunk<Extra>, scores: BatchScores) => Promise<void>,
    extra: () => Extra = () => undefined as Extra,
    /** Buffers, so chunks in flight plus the one being filled. @default 4 */
    depth = 4,
  ) {
    const width = scorer.manifest.input.features.length;
    const make = (): Chunk<Extra> => ({ data: new Float32Array(chunkRows * width), rows: 0, lines: [], ids: [], extra: extra() });
    this.buffers = Array.from({ length: Math.max(2, depth) }, make);
    this.jobs = this.buffers.map(() => Promise.resolve());
  }

  /** The chunk being filled. Write features at `rows * width`, then call `commit`. */
  get current(): Chunk<Extra> {
    return this.buffers[this.active]!;
  }

  /** Adds the row just written; returns a promise only when the chunk was full and had to be handed over. */
  commit(line: number, ids: unknown[]): Promise<void> | undefined {
    const chunk = this.current;
    chunk.lines.push(line);
    chunk.ids.push(ids);
    if (++chunk.rows === this.chunkRows) return this.submit();
    return undefined;
  }

  /**
   * Adds the row just written when the caller keeps its line number and pass-through values
   * in `extra` (no per-row arrays then); same return as `commit`.
   */
  commitRow(): Promise<void> | undefined {
    if (++this.current.rows === this.chunkRows) return this.submit();
    return undefined;
  }

  /** Hands the current chunk to the model and switches to the next buffer once it is free (the caller resets its `extra` when writing). */
  async submit(): Promise<void> {
    const chunk = this.current;
    if (chunk.rows === 0) return;
    const width = this.scorer.manifest.input.features.length;
    const matrix: Matrix = { data: chunk.data.subarray(0, chunk.rows * width), rows: chunk.rows, cols: width };
    const previous = this.inflight;
    const scoring = this.scorer.predict(matrix);
    this.inflight = (async () => {
      const scores = await scoring;
      await previous;
      await this.write(chunk, scores);
    })();
    // A failure surfaces at a later submit (every job waits for the one before) or at finish; mark it handled until then.
    this.inflight.catch(() => {});
    this.jobs[this.active] = this.inflight;
    // The next buffer is the one submitted longest ago; it is reusable once its job is done.
    this.active = (this.active + 1) % this.buffers.length;
    await this.jobs[this.active];
    const next = this.current;
    next.rows = 0;
    next.lines.length = 0;
    next.ids.length = 0;
  }

  /** Scores what is left and waits for every write. */
  async finish(): Promise<void> {
    await this.submit();
    await this.inflight;
  }
}

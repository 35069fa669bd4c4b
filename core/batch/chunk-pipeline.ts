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
 * Double-buffered scoring: while ONNX Runtime scores one chunk (off the event loop, on its
 * own thread), the caller parses the next into the other buffer. Chunks are written in
 * input order. This puts parsing and inference on the machine's two cores at once.
 */
export class ChunkPipeline<Extra = undefined> {
  private readonly buffers: [Chunk<Extra>, Chunk<Extra>];
  private active = 0;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly scorer: Scorer,
    private readonly chunkRows: number,
    private readonly write: (chunk: Chunk<Extra>, scores: BatchScores) => Promise<void>,
    extra: () => Extra = () => undefined as Extra,
  ) {
    const width = scorer.manifest.input.features.length;
    const make = (): Chunk<Extra> => ({ data: new Float32Array(chunkRows * width), rows: 0, lines: [], ids: [], extra: extra() });
    this.buffers = [make(), make()];
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

  /** Hands the current chunk to the model and switches to the other buffer once it is free (the caller resets its `extra` when writing). */
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
    // The failure surfaces at the next submit or at finish; mark it handled until then.
    this.inflight.catch(() => {});
    // The other buffer was submitted before this one; it is reusable once its job is done.
    this.active = 1 - this.active;
    await previous;
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

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { type Matrix, type ModelSession, ortSessionOptions, type OutputValues, type SessionOptions, signature, type TensorSignature } from './onnx-session';

/**
 * An ONNX Runtime session on a worker thread.
 *
 * onnxruntime-node runs inference synchronously on the calling thread, so in one thread a
 * batch job alternates between parsing and inference. With the session here, the main
 * thread parses the next chunk while the worker scores this one: the two cores both work.
 * The worker is a few lines of plain JavaScript evaluated from a string, so it runs the same
 * from TypeScript sources (tsx) and from the Lambda bundle, where onnxruntime-node comes
 * from a layer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const meta = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
ort.InferenceSession.create(workerData.model, workerData.options).then(
  (session) => {
    parentPort.postMessage({ ready: true, inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });
    parentPort.on('message', async (m) => {
      try {
        const feeds = { [m.input]: new ort.Tensor('float32', new Float32Array(m.data, 0, m.rows * m.cols), [m.rows, m.cols]) };
        const results = m.outputs ? await session.run(feeds, m.outputs) : await session.run(feeds);
        const out = {};
        // The input buffer goes back too, for the next call to reuse.
        const transfer = [m.data];
        for (const [name, tensor] of Object.entries(results)) {
          const data = ArrayBuffer.isView(tensor.data) ? tensor.data.slice() : tensor.data;
          if (ArrayBuffer.isView(data)) transfer.push(data.buffer);
          out[name] = { data, dims: tensor.dims };
        }
        parentPort.postMessage({ id: m.id, out, buffer: m.data }, transfer);
      } catch (error) {
        parentPort.postMessage({ id: m.id, error: String(error && error.message || error), buffer: m.data }, [m.data]);
      }
    });
  },
  (error) => parentPort.postMessage({ ready: false, error: String(error && error.message || error) }),
);
`;

/** Path of onnxruntime-node as this process resolves it (node_modules, or a Lambda layer via NODE_PATH). */
function ortPath(): string {
  const base = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
  return createRequire(base).resolve('onnxruntime-node');
}

/** Input buffers kept for reuse, at most, and the largest kept (a batch of 1024 rows × 2048 features). */
const SPARE_INPUTS = 4;
const SPARE_INPUT_BYTES = 8 << 20;

export class WorkerSession implements ModelSession {
  private nextId = 0;
  /**
   * Input buffers the worker has handed back. A fresh buffer per call (256 kB for a batch of
   * 1024 × 64) costs the caller's thread zeroing and page faults, ~0.3 µs a row; a reused one
   * only the copy.
   */
  private readonly spareInputs: ArrayBuffer[] = [];
  private readonly pending = new Map<number, { resolve: (v: OutputValues) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    readonly inputs: readonly TensorSignature[],
    readonly outputs: readonly TensorSignature[],
  ) {
    worker.on('message', (m: { id: number; out?: OutputValues; error?: string; buffer?: ArrayBuffer }) => {
      if (m.buffer && m.buffer.byteLength <= SPARE_INPUT_BYTES && this.spareInputs.length < SPARE_INPUTS) this.spareInputs.push(m.buffer);
      const waiter = this.pending.get(m.id);
      if (!waiter) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) waiter.reject(new Error(m.error));
      else waiter.resolve(m.out!);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', (code) => this.failAll(new Error(`the inference worker exited with code ${code}`)));
  }

  /** Starts a worker and loads the model in it. */
  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<WorkerSession> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath: ortPath(), model, options: ortSessionOptions(options) } });
    const ready = await new Promise<{ ready: boolean; error?: string; inputs?: ort.InferenceSession.ValueMetadata[]; outputs?: ort.InferenceSession.ValueMetadata[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!ready.ready) {
      await worker.terminate();
      throw new Error(ready.error ?? 'the inference worker failed to start');
    }
    return new WorkerSession(worker, ready.inputs!.map(signature), ready.outputs!.map(signature));
  }

  run(input: string, matrix: Matrix, outputNames?: readonly string[]): Promise<OutputValues> {
    // A copy of exactly the rows is transferred (moved, not cloned) to the worker, in a spare buffer when one is large enough.
    const length = matrix.rows * matrix.cols;
    const spare = this.spareInputs.findIndex((b) => b.byteLength >= length * 4);
    const buffer = spare >= 0 ? this.spareInputs.splice(spare, 1)[0]! : new ArrayBuffer(length * 4);
    new Float32Array(buffer, 0, length).set(matrix.data.subarray(0, length));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, input, data: buffer, rows: matrix.rows, cols: matrix.cols, outputs: outputNames }, [buffer]);
    });
  }

  async release(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

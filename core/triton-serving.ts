/*
 * The serving options of a Triton model: a contract between the deployment config (which sets them
 * per GPU model) and the config.pbtxt generator in model-pipeline/triton/ (which applies them).
 */

/** How Triton serves the model: batching, instances and acceleration. */
export interface TritonServingOptions {
  /**
   * Most rows in one batch (Triton's max_batch_size). 0 turns batching off; dims then carry the
   * batch axis as -1.
   * @default 1024
   */
  readonly maxBatchSize?: number;
  /**
   * Batch sizes the dynamic batcher prefers to form.
   * @default [8, 16, 32]
   */
  readonly preferredBatchSizes?: readonly number[];
  /**
   * Longest a request waits for others to batch with, in microseconds.
   * @default 500
   */
  readonly maxQueueDelayMicros?: number;
  /**
   * Model instances per GPU (instance_group count).
   * @default 1
   */
  readonly instanceCount?: number;
  /**
   * Run the model through ONNX Runtime's TensorRT execution provider in FP16.
   * @default false
   */
  readonly useTensorRt?: boolean;
}

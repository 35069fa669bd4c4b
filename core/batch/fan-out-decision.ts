import type { InputFormat } from './formats';

/** The setting the fan-out decision reads: inputs above `aboveBytes` are split into parts. */
export interface FanOutThreshold {
  readonly aboveBytes: number;
}

/** Whether an input fans out, and why (for the log). */
export interface FanOutDecision {
  readonly fanOut: boolean;
  readonly reason: string;
}

/**
 * Whether an input can be cut into parts: a gzip stream can only be read from its start, so a
 * range of it cannot be scored alone.
 */
export function splittable(input: Pick<InputFormat, 'gzip'>): boolean {
  return !input.gzip;
}

/**
 * Inputs above the threshold are split, except those that cannot be (see {@link splittable}),
 * which stay on the single-function path. The queue's function and the local batch watcher both
 * ask this, so a file takes the same path in AWS and on one machine.
 */
export function fanOutDecision(input: Pick<InputFormat, 'gzip'>, bytes: number, { aboveBytes }: FanOutThreshold): FanOutDecision {
  if (bytes <= aboveBytes) return { fanOut: false, reason: `${bytes} bytes, at most the fan-out threshold of ${aboveBytes}` };
  if (!splittable(input)) return { fanOut: false, reason: `${bytes} bytes, above the fan-out threshold of ${aboveBytes}, but gzip cannot be split: scored in one run` };
  return { fanOut: true, reason: `${bytes} bytes, above the fan-out threshold of ${aboveBytes}` };
}

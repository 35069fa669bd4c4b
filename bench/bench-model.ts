import type { Feature } from '../core/model/manifest';
import type { ModelPackage } from '../core/model/model-package';
import { provisional } from '../model-pipeline/train/train-package';
import { Random } from '../core/random';
import { exportTrainedModel } from '../model-pipeline/onnx/export-trained';
import { initNetwork } from '../model-pipeline/train/network';
import { fitTransform } from '../model-pipeline/train/preprocess';
import type { TrainedModel } from '../model-pipeline/train/trainer';

/**
 * The model the design's quality bars are stated for: an MLP 64 → 512 → 512 → 10 on 64
 * numeric features. Weights are He-initialized (speed does not depend on their values).
 */
export function benchMlp(options: { inputs?: number; hidden?: number[]; classes?: number; seed?: number } = {}): { pkg: ModelPackage; features: Feature[]; onnx: Uint8Array } {
  const inputs = options.inputs ?? 64;
  const classes = options.classes ?? 10;
  const random = new Random(options.seed ?? 1);
  const features: Feature[] = Array.from({ length: inputs }, (_, i) => ({ name: `f${i}`, type: 'numeric', nullable: false }));
  const rows = 256;
  const x = Float32Array.from({ length: rows * inputs }, () => random.normal());
  const transform = fitTransform(features, x, rows);
  const network = initNetwork([inputs, ...(options.hidden ?? [512, 512]), classes], 'softmax', random);
  const empty = { x: new Float32Array(0), y: new Float64Array(0), rows: 0 };
  const task = classes === 2 ? 'binary' : 'multiclass';
  const model: TrainedModel = {
    task,
    features,
    classes: Array.from({ length: classes }, (_, i) => `c${i}`),
    transform,
    network,
    target: { mean: 0, std: 1 },
    train: empty,
    validation: empty,
    epochsRun: 0,
    bestValidationLoss: 0,
    skipped: { count: 0, examples: [] },
  };
  const onnx = exportTrainedModel(model, 'bench');
  const manifest = provisional(
    {
      name: 'bench',
      version: '1.0.0',
      task,
      input: { tensor: 'features', features },
      output: { tensor: 'probabilities', kind: 'probabilities', classes: model.classes as string[] },
      createdAt: new Date().toISOString(),
    },
    onnx,
  );
  return { pkg: { manifest, location: 'memory', files: new Map([['model.onnx', onnx]]) }, features, onnx };
}

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up and returns per-call times in microseconds. */
export async function timeCalls(fn: () => Promise<unknown>, ms = 1500, warmup = 50): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const start = performance.now();
    await fn();
    times.push((performance.now() - start) * 1000);
  }
  return times;
}

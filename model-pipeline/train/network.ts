import { Random } from '../../core/random';

/** A dense layer: weights [inputs × outputs] row-major, and biases. */
export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  readonly weights: Float64Array;
  readonly bias: Float64Array;
}

/**
 * A multilayer perceptron with ReLU hidden layers; with no hidden layer it is logistic
 * (softmax) or linear regression. Written by hand because no maintained npm package trains
 * small tabular networks on CPU without native or GPU dependencies, and the exporter needs
 * the exact weights.
 */
export interface Network {
  readonly layers: readonly DenseLayer[];
  /** 'softmax' for classifiers, 'identity' for regression. */
  readonly output: 'softmax' | 'identity';
}

/** He-initialized network with the given layer sizes, e.g. [inputs, 32, classes]. */
export function initNetwork(sizes: readonly number[], output: Network['output'], random: Random): Network {
  const layers: DenseLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l]!;
    const outputs = sizes[l + 1]!;
    const isLast = l + 2 === sizes.length;
    const scale = Math.sqrt((isLast ? 1 : 2) / inputs);
    const weights = new Float64Array(inputs * outputs);
    for (let i = 0; i < weights.length; i++) weights[i] = random.normal() * scale;
    layers.push({ inputs, outputs, weights, bias: new Float64Array(outputs) });
  }
  return { layers, output };
}

/** Activations of every layer for a batch: [input, hidden…, output (probabilities or values)]. */
export function forward(network: Network, x: Float64Array, rows: number): Float64Array[] {
  const activations: Float64Array[] = [x];
  network.layers.forEach((layer, l) => {
    const input = activations[l]!;
    const out = new Float64Array(rows * layer.outputs);
    for (let r = 0; r < rows; r++) {
      const o = r * layer.outputs;
      out.set(layer.bias, o);
      for (let i = 0; i < layer.inputs; i++) {
        const a = input[r * layer.inputs + i]!;
        if (a === 0) continue;
        const w = i * layer.outputs;
        for (let j = 0; j < layer.outputs; j++) out[o + j]! += a * layer.weights[w + j]!;
      }
    }
    const isLast = l === network.layers.length - 1;
    if (!isLast) for (let k = 0; k < out.length; k++) out[k] = Math.max(0, out[k]!);
    else if (network.output === 'softmax') softmaxInPlace(out, layer.outputs);
    activations.push(out);
  });
  return activations;
}

/** Mean loss and the gradients of every layer for a batch (cross-entropy or squared error, plus L2). */
export function backward(
  network: Network,
  activations: readonly Float64Array[],
  targets: Float64Array,
  rows: number,
  l2: number,
): { loss: number; gradients: DenseLayer[] } {
  const last = network.layers.length - 1;
  const output = activations[last + 1]!;
  let loss = 0;
  // For softmax + cross-entropy and identity + squared error, dLoss/dz is (prediction - target).
  let delta = new Float64Array(output.length);
  for (let k = 0; k < output.length; k++) {
    delta[k] = (output[k]! - targets[k]!) / rows;
    if (network.output === 'softmax') {
      if (targets[k]! > 0) loss -= targets[k]! * Math.log(Math.max(output[k]!, 1e-12));
    } else {
      loss += 0.5 * (output[k]! - targets[k]!) ** 2;
    }
  }
  loss /= rows;
  const gradients: DenseLayer[] = [];
  for (let l = last; l >= 0; l--) {
    const layer = network.layers[l]!;
    const input = activations[l]!;
    const weights = new Float64Array(layer.weights.length);
    const bias = new Float64Array(layer.outputs);
    for (let r = 0; r < rows; r++) {
      const d = r * layer.outputs;
      for (let j = 0; j < layer.outputs; j++) bias[j]! += delta[d + j]!;
      for (let i = 0; i < layer.inputs; i++) {
        const a = input[r * layer.inputs + i]!;
        if (a === 0) continue;
        const w = i * layer.outputs;
        for (let j = 0; j < layer.outputs; j++) weights[w + j]! += a * delta[d + j]!;
      }
    }
    for (let k = 0; k < weights.length; k++) {
      weights[k]! += l2 * layer.weights[k]!;
      loss += (0.5 * l2 * layer.weights[k]! ** 2) / Math.max(1, network.layers.length);
    }
    gradients[l] = { inputs: layer.inputs, outputs: layer.outputs, weights, bias };
    if (l > 0) {
      const previous = new Float64Array(rows * layer.inputs);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < layer.inputs; i++) {
          if (input[r * layer.inputs + i]! <= 0) continue; // ReLU gate
          let sum = 0;
          const w = i * layer.outputs;
          for (let j = 0; j < layer.outputs; j++) sum += layer.weights[w + j]! * delta[r * layer.outputs + j]!;
          previous[r * layer.inputs + i] = sum;
        }
      }
      delta = previous;
    }
  }
  return { loss, gradients };
}

/** Adam optimizer state for a network (Kingma & Ba, 2015). */
export class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private step = 0;

  constructor(
    private readonly network: Network,
    private readonly learningRate = 0.01,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.m = network.layers.flatMap((l) => [new Float64Array(l.weights.length), new Float64Array(l.bias.length)]);
    this.v = network.layers.flatMap((l) => [new Float64Array(l.weights.length), new Float64Array(l.bias.length)]);
  }

  /** Applies one update with the given gradients. */
  update(gradients: readonly DenseLayer[]): void {
    this.step++;
    const correction1 = 1 - this.beta1 ** this.step;
    const correction2 = 1 - this.beta2 ** this.step;
    this.network.layers.forEach((layer, l) => {
      const pairs: [Float64Array, Float64Array][] = [
        [layer.weights, gradients[l]!.weights],
        [layer.bias, gradients[l]!.bias],
      ];
      pairs.forEach(([param, grad], p) => {
        const m = this.m[2 * l + p]!;
        const v = this.v[2 * l + p]!;
        for (let k = 0; k < param.length; k++) {
          m[k] = this.beta1 * m[k]! + (1 - this.beta1) * grad[k]!;
          v[k] = this.beta2 * v[k]! + (1 - this.beta2) * grad[k]! ** 2;
          param[k]! -= (this.learningRate * (m[k]! / correction1)) / (Math.sqrt(v[k]! / correction2) + this.epsilon);
        }
      });
    });
  }
}

/** Deep copy of a network's parameters (for keeping the best epoch). */
export function cloneNetwork(network: Network): Network {
  return {
    output: network.output,
    layers: network.layers.map((l) => ({ ...l, weights: l.weights.slice(), bias: l.bias.slice() })),
  };
}

function softmaxInPlace(values: Float64Array, width: number): void {
  for (let o = 0; o < values.length; o += width) {
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, values[o + j]!);
    let sum = 0;
    for (let j = 0; j < width; j++) {
      values[o + j] = Math.exp(values[o + j]! - max);
      sum += values[o + j]!;
    }
    for (let j = 0; j < width; j++) values[o + j]! /= sum;
  }
}

import { describe, expect, it } from 'vitest';
import { InvalidPackageError, type ManifestInput, parseManifest } from '../../core/model/manifest';
import { sha256Hex } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { ElementType } from '../../model-pipeline/onnx/proto';

/** A linear model x·W + b with the given input/output names and score width. */
function linearModel(options: { input: string; output: string; width: number; activation?: 'Softmax' | 'Sigmoid' }): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input(options.input, ElementType.FLOAT, ['N', 2]);
  const weights = Array.from({ length: 2 * options.width }, (_, i) => (i % 3) - 1);
  const z = g.node('Gemm', [x, g.floats('W', weights, [2, options.width]), g.floats('b', new Array(options.width).fill(0.1), [options.width])], {}, options.activation ? undefined : options.output);
  if (options.activation) g.node(options.activation, [z], options.activation === 'Softmax' ? { axis: -1 } : {}, options.output);
  g.output(options.output, ElementType.FLOAT, ['N', options.width]);
  return g.build({ graphName: 'test', producer: 'test' });
}

function manifestFor(model: Uint8Array, change: Partial<ManifestInput> & { output: ManifestInput['output'] }) {
  return parseManifest({
    schemaVersion: 1,
    name: 'm',
    version: '1.0.0',
    task: 'multiclass',
    input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }, { name: 'b', type: 'numeric' }] },
    createdAt: '2026-11-23T10:00:00.000Z',
    files: { 'model.onnx': { sha256: sha256Hex(model), bytes: model.byteLength } },
    ...change,
  });
}

const batch = { data: Float32Array.from([1, 2, -1, 0.5]), rows: 2, cols: 2 };

describe('Predictor', () => {
  it('applies softmax to logits so each row sums to 1', async () => {
    const model = linearModel({ input: 'x', output: 'logits', width: 3 });
    const predictor = await Predictor.fromModel(manifestFor(model, { output: { tensor: 'logits', kind: 'logits', classes: ['a', 'b', 'c'] } }), model);
    const scores = await predictor.predict(batch);
    expect(scores.width).toBe(3);
    expect(scores.values[0]! + scores.values[1]! + scores.values[2]!).toBeCloseTo(1, 6);
    await predictor.release();
  });

  it('widens a single sigmoid column into two class probabilities', async () => {
    const model = linearModel({ input: 'x', output: 'p', width: 1, activation: 'Sigmoid' });
    const manifest = manifestFor(model, { task: 'binary', output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] } });
    const predictor = await Predictor.fromModel(manifest, model);
    const scores = await predictor.predict(batch);
    expect(scores.width).toBe(2);
    expect(scores.values[0]! + scores.values[1]!).toBeCloseTo(1, 6);
    await predictor.release();
  });

  it('refuses a model whose input is not the one the manifest names, listing the real inputs', async () => {
    const model = linearModel({ input: 'dense_input', output: 'p', width: 3, activation: 'Softmax' });
    const manifest = manifestFor(model, { output: { tensor: 'p', kind: 'probabilities', classes: ['a', 'b', 'c'] } });
    await expect(Predictor.fromModel(manifest, model)).rejects.toThrow(/model\.onnx: has no input "x" named in the manifest; its inputs are dense_input \(float32 \[N, 2\]\)/);
  });

  it('refuses a model whose input width differs from the manifest features', async () => {
    const model = linearModel({ input: 'x', output: 'p', width: 3, activation: 'Softmax' });
    const manifest = manifestFor(model, {
      input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }] },
      output: { tensor: 'p', kind: 'probabilities', classes: ['a', 'b', 'c'] },
    });
    await expect(Predictor.fromModel(manifest, model)).rejects.toThrow(/takes 2 features but the manifest lists 1/);
  });

  it('refuses a model whose score columns do not match the classes', async () => {
    const model = linearModel({ input: 'x', output: 'p', width: 3, activation: 'Softmax' });
    const manifest = manifestFor(model, { output: { tensor: 'p', kind: 'probabilities', classes: ['a', 'b', 'c', 'd'] } });
    await expect(Predictor.fromModel(manifest, model)).rejects.toThrow(InvalidPackageError);
    await expect(Predictor.fromModel(manifest, model)).rejects.toThrow(/has 3 score columns but the manifest lists 4 classes/);
  });

  it('refuses bytes that are not an ONNX model, naming the file', async () => {
    const bytes = new TextEncoder().encode('not a model');
    const manifest = manifestFor(bytes, { output: { tensor: 'p', kind: 'probabilities', classes: ['a', 'b', 'c'] } });
    await expect(Predictor.fromModel(manifest, bytes)).rejects.toThrow(/^model\.onnx: ONNX Runtime cannot load it/);
  });
});

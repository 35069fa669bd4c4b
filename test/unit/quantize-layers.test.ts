import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { decodeModel, ElementType, type GraphProto } from '../../model-pipeline/onnx/proto';
import { findLinearLayers } from '../../model-pipeline/quantize/linear-layers';

const fixture = (name: string) => decodeModel(readFileSync(new URL(`../fixtures/external/${name}`, import.meta.url))).graph as GraphProto;

/** x [batch, 2] → one layer → y; `layer` adds the layer's nodes. */
function graphOf(layer: (g: GraphBuilder, x: string) => string): GraphProto {
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, ['batch', 2]);
  g.node('Identity', [layer(g, x)], {}, 'y');
  g.output('y', ElementType.FLOAT, ['batch', 3]);
  return decodeModel(g.build({ graphName: 't', producer: 'test' })).graph as GraphProto;
}

describe('findLinearLayers', () => {
  it('reads our Gemm with W [in, out] as a layer of 2 inputs and 3 outputs', () => {
    // Prepare
    const graph = graphOf((g, x) => g.node('Gemm', [x, g.floats('W', [1, 2, 3, 4, 5, 6], [2, 3]), g.floats('b', [7, 8, 9], [3])]));

    // Act
    const [layer] = findLinearLayers(graph).layers;

    // Assess
    expect(layer).toMatchObject({ pattern: 'Gemm', inputs: 2, outputs: 3 });
    expect(Array.from(layer!.weights)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(layer!.bias!)).toEqual([7, 8, 9]);
  });

  it('transposes a torch-style Gemm (transB=1, W [out, in]) and folds alpha and beta in', () => {
    // Prepare: W [3, 2] holds the same matrix as above, transposed.
    const graph = graphOf((g, x) => g.node('Gemm', [x, g.floats('W', [1, 4, 2, 5, 3, 6], [3, 2]), g.floats('b', [7, 8, 9], [1, 3])], { transB: 1, alpha: { float: 2 }, beta: { float: 0.5 } }));

    // Act
    const [layer] = findLinearLayers(graph).layers;

    // Assess
    expect(Array.from(layer!.weights)).toEqual([2, 4, 6, 8, 10, 12]);
    expect(Array.from(layer!.bias!)).toEqual([3.5, 4, 4.5]);
  });

  it('folds the Add that follows a MatMul into the layer as its bias', () => {
    // Prepare
    const graph = graphOf((g, x) => g.node('Add', [g.node('MatMul', [x, g.floats('B', [1, 2, 3, 4, 5, 6], [2, 3])]), g.floats('c', [1, 1, 1], [1, 3])]));

    // Act
    const { layers, floatNodes } = findLinearLayers(graph);

    // Assess
    expect(layers).toHaveLength(1);
    expect(layers[0]).toMatchObject({ pattern: 'MatMul+Add', output: graph.node![1]!.output![0] });
    expect(floatNodes.map((f) => f.op)).toEqual(['Identity']);
  });

  it('reads skl2onnx weights stored as float_data and finds both MatMul + Add layers', () => {
    // Act
    const { layers } = findLinearLayers(fixture('sklearn-mlp.onnx'));

    // Assess
    expect(layers.map((l) => [l.pattern, l.inputs, l.outputs])).toEqual([['MatMul+Add', 4, 16], ['MatMul+Add', 16, 3]]);
    expect(layers[0]!.weights.some((w) => w !== 0)).toBe(true);
  });

  it('leaves a MatMul whose second operand is computed at run time in float, saying why', () => {
    // Prepare: x · xᵀ has no constant weights.
    const graph = graphOf((g, x) => g.node('MatMul', [x, g.node('Transpose', [x])]));

    // Act
    const { layers, floatNodes } = findLinearLayers(graph);

    // Assess
    expect(layers).toEqual([]);
    expect(floatNodes.find((f) => f.op === 'MatMul')?.reason).toMatch(/not a constant float matrix/);
  });

  it('leaves the ai.onnx.ml LinearClassifier of a skl2onnx logistic regression in float, saying why', () => {
    // Act
    const { layers, floatNodes } = findLinearLayers(fixture('sklearn-logreg.onnx'));

    // Assess
    expect(layers).toEqual([]);
    expect(floatNodes.find((f) => f.op === 'LinearClassifier')).toMatchObject({ domain: 'ai.onnx.ml', reason: expect.stringMatching(/no int8 kernel/) });
  });
});

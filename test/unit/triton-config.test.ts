import { describe, expect, it } from 'vitest';
import { InvalidPackageError, type Manifest, parseManifest } from '../../core/model/manifest';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { ElementType, onnx } from '../../model-pipeline/onnx/proto';
import type { TritonServingOptions } from '../../core/triton-serving';
import { renderModelConfig, tritonModelConfig } from '../../model-pipeline/triton/model-config';
import { EnumValue, renderTextProto } from '../../model-pipeline/triton/text-proto';

// --- A small protocol-buffer text-format reader, independent of the writer under test ----------

type Parsed = string | number | boolean | ParsedMessage | Parsed[];
interface ParsedMessage {
  [field: string]: Parsed;
}

/**
 * Reads text format into plain objects: enum values and quoted strings both become strings,
 * a field written more than once becomes an array, `f: [ … ]` an array. Throws on anything else.
 */
function parseTextProto(text: string): ParsedMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g) ?? [];
  let at = 0;
  const next = () => {
    const token = tokens[at++];
    if (token === undefined) throw new Error('unexpected end of input');
    return token;
  };
  const peek = () => tokens[at];
  const scalar = (token: string): Parsed => {
    if (token.startsWith('"')) return JSON.parse(token.replace(/\\([0-7]{3})/g, (_, o: string) => `\\u${parseInt(o, 8).toString(16).padStart(4, '0')}`)) as string;
    if (token === 'true' || token === 'false') return token === 'true';
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(token)) return Number(token);
    if (/^[A-Z][A-Z0-9_]*$/.test(token)) return token;
    throw new Error(`unexpected token ${token}`);
  };
  const value = (): Parsed => {
    const token = next();
    if (token === '{') return message('}');
    if (token === '[') {
      const items: Parsed[] = [];
      while (peek() !== ']') {
        items.push(value());
        if (peek() === ',') next();
      }
      next();
      return items;
    }
    return scalar(token);
  };
  const message = (end: string | undefined): ParsedMessage => {
    const fields: ParsedMessage = {};
    while (peek() !== end) {
      const name = next();
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`expected a field name, got ${name}`);
      if (peek() === ':') next();
      const parsed = value();
      if (name in fields) {
        const existing = fields[name]!;
        fields[name] = Array.isArray(existing) && !Array.isArray(parsed) ? [...existing, parsed] : [existing, parsed];
      } else {
        fields[name] = parsed;
      }
    }
    if (end) next();
    return fields;
  };
  return message(undefined);
}

// --- Fixtures ------------------------------------------------------------------------------

function manifest(overrides: Partial<{ tensor: string; output: string; task: 'binary' | 'multiclass' | 'regression'; classes: string[]; features: number }> = {}): Manifest {
  const task = overrides.task ?? 'binary';
  return parseManifest({
    schemaVersion: 1,
    name: 'demo',
    version: '1.0.0',
    task,
    input: { tensor: overrides.tensor ?? 'features', features: Array.from({ length: overrides.features ?? 3 }, (_, i) => ({ name: `f${i}`, type: 'numeric' })) },
    output:
      task === 'regression'
        ? { tensor: overrides.output ?? 'prediction', kind: 'value' }
        : { tensor: overrides.output ?? 'probabilities', kind: 'probabilities', classes: overrides.classes ?? ['no', 'yes'] },
    createdAt: '2024-01-02T03:04:05.000Z',
    files: { 'model.onnx': { sha256: '0'.repeat(64), bytes: 1 } },
  });
}

/** An ONNX model with one input and one output of the given types and shapes (an Identity between them; it is never run). */
function onnxModel(input: { name?: string; type?: number; dims: (number | string)[] }, output: { name?: string; type?: number; dims: (number | string)[] }): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input(input.name ?? 'features', input.type ?? ElementType.FLOAT, input.dims);
  g.node('Identity', [x], {}, output.name ?? 'probabilities');
  g.output(output.name ?? 'probabilities', output.type ?? ElementType.FLOAT, output.dims);
  return g.build({ graphName: 'test', producer: 'test' });
}

const classifier = onnxModel({ dims: ['batch', 3] }, { dims: ['batch', 2] });

function config(model = classifier, m = manifest(), options: TritonServingOptions = {}): ParsedMessage {
  return parseTextProto(renderModelConfig(tritonModelConfig(m, model, options)));
}

// --- Specifications ------------------------------------------------------------------------

describe('the generated config.pbtxt', () => {
  it('names the model after the manifest and runs it on the ONNX Runtime backend', () => {
    const parsed = config();

    expect(parsed.name).toBe('demo');
    expect(parsed.platform).toBe('onnxruntime_onnx');
  });

  it('declares the manifest\'s input as TYPE_FP32 with the feature count and no batch axis', () => {
    expect(config().input).toEqual([{ name: 'features', data_type: 'TYPE_FP32', dims: [3] }]);
  });

  it('declares the manifest\'s output with the class count', () => {
    expect(config().output).toEqual([{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [2] }]);
  });

  it('batches up to 1024 rows by default', () => {
    expect(config().max_batch_size).toBe(1024);
  });

  it('runs one model instance on the GPU by default', () => {
    expect(config().instance_group).toEqual([{ kind: 'KIND_GPU', count: 1 }]);
  });

  it('runs the configured number of instances per GPU', () => {
    expect(config(classifier, manifest(), { instanceCount: 3 }).instance_group).toEqual([{ kind: 'KIND_GPU', count: 3 }]);
  });

  it('batches dynamically, preferring 8, 16 and 32 rows and waiting at most 500 µs by default', () => {
    expect(config().dynamic_batching).toEqual({ preferred_batch_size: [8, 16, 32], max_queue_delay_microseconds: 500 });
  });

  it('takes the preferred batch sizes and queue delay it is given', () => {
    const parsed = config(classifier, manifest(), { preferredBatchSizes: [4, 64], maxQueueDelayMicros: 2000 });

    expect(parsed.dynamic_batching).toEqual({ preferred_batch_size: [4, 64], max_queue_delay_microseconds: 2000 });
  });

  it('has no optimization section without TensorRT', () => {
    expect(config()).not.toHaveProperty('optimization');
  });

  it('asks for the TensorRT accelerator in FP16 when useTensorRt is set', () => {
    const parsed = config(classifier, manifest(), { useTensorRt: true });

    expect(parsed.optimization).toEqual({
      execution_accelerators: {
        gpu_execution_accelerator: [
          {
            name: 'tensorrt',
            parameters: [
              { key: 'precision_mode', value: 'FP16' },
              { key: 'max_workspace_size_bytes', value: '1073741824' },
            ],
          },
        ],
      },
    });
  });

  it('keeps the model\'s own tensor names', () => {
    const model = onnxModel({ name: 'input_1', dims: ['N', 3] }, { name: 'softmax_out', dims: ['N', 2] });
    const parsed = config(model, manifest({ tensor: 'input_1', output: 'softmax_out' }));

    expect(parsed.input).toMatchObject([{ name: 'input_1' }]);
    expect(parsed.output).toMatchObject([{ name: 'softmax_out' }]);
  });

  it('writes -1 for a dimension the model leaves open', () => {
    const model = onnxModel({ dims: ['batch', 'width'] }, { dims: ['batch', 2] });

    expect(config(model).input).toMatchObject([{ dims: [-1] }]);
  });

  it('maps ONNX element types to Triton data types', () => {
    const model = onnxModel({ type: onnx.TensorProto.DataType.FLOAT16, dims: ['batch', 3] }, { type: onnx.TensorProto.DataType.DOUBLE, dims: ['batch', 2] });
    const parsed = config(model);

    expect(parsed.input).toMatchObject([{ data_type: 'TYPE_FP16' }]);
    expect(parsed.output).toMatchObject([{ data_type: 'TYPE_FP64' }]);
  });

  it('gives a [batch] output dims [1] and reshapes it back to []', () => {
    const model = onnxModel({ dims: ['batch', 3] }, { name: 'prediction', dims: ['batch'] });

    expect(config(model, manifest({ task: 'regression' })).output).toEqual([{ name: 'prediction', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } }]);
  });

  it('keeps the batch axis as -1 and leaves out dynamic batching when maxBatchSize is 0', () => {
    const parsed = config(classifier, manifest(), { maxBatchSize: 0 });

    expect(parsed.max_batch_size).toBe(0);
    expect(parsed.input).toMatchObject([{ dims: [-1, 3] }]);
    expect(parsed).not.toHaveProperty('dynamic_batching');
  });

  it('falls back to the manifest\'s widths when the model declares no shapes', () => {
    const g = new GraphBuilder();
    const x = g.input('features', ElementType.FLOAT, ['batch', 3]);
    g.node('Identity', [x], {}, 'probabilities');
    g.output('probabilities', ElementType.FLOAT, ['batch', 2]);
    const decoded = onnx.ModelProto.decode(g.build({ graphName: 't', producer: 't' }));
    for (const v of [...decoded.graph!.input!, ...decoded.graph!.output!]) v.type!.tensorType!.shape = null;
    const parsed = config(onnx.ModelProto.encode(decoded).finish(), manifest({ classes: ['a', 'b', 'c'], task: 'multiclass' }));

    expect(parsed.input).toMatchObject([{ dims: [3] }]);
    expect(parsed.output).toMatchObject([{ dims: [3] }]);
  });
});

describe('what the generator refuses', () => {
  it('rejects a model whose input has a fixed batch dimension, naming the tensor', () => {
    const model = onnxModel({ dims: [1, 3] }, { dims: ['batch', 2] });

    expect(() => tritonModelConfig(manifest(), model)).toThrow(/tensor "features" has no variable batch axis \(shape \[1, 3\]\)/);
  });

  it('rejects a model without the manifest\'s input, listing its inputs', () => {
    expect(() => tritonModelConfig(manifest({ tensor: 'x' }), classifier)).toThrow(InvalidPackageError);
    expect(() => tritonModelConfig(manifest({ tensor: 'x' }), classifier)).toThrow(/no input "x" .*its inputs are features/);
  });

  it('rejects a model without the manifest\'s output, listing its outputs', () => {
    expect(() => tritonModelConfig(manifest({ output: 'scores' }), classifier)).toThrow(/no output "scores" .*its outputs are probabilities/);
  });

  it('rejects a preferred batch size above maxBatchSize, showing it', () => {
    expect(() => tritonModelConfig(manifest(), classifier, { maxBatchSize: 16, preferredBatchSizes: [8, 32] })).toThrow(/from 1 to maxBatchSize 16 \(received 32\)/);
  });

  it('rejects bytes that are not an ONNX model', () => {
    expect(() => tritonModelConfig(manifest(), new Uint8Array([1, 2, 3, 4, 5]))).toThrow(/model\.onnx: not an ONNX model/);
  });
});

describe('renderTextProto', () => {
  it('quotes strings, leaves enum values bare and writes scalar lists in brackets', () => {
    const text = renderTextProto({ name: 'a', kind: new EnumValue('KIND_GPU'), dims: [1, -1], on: true });

    expect(text).toBe('name: "a"\nkind: KIND_GPU\ndims: [ 1, -1 ]\non: true\n');
  });

  it('escapes quotes, backslashes and control characters so the value reads back unchanged', () => {
    const tricky = 'a "quoted" \\ name\nwith\ta\u0001control';

    expect(parseTextProto(renderTextProto({ name: tricky })).name).toBe(tricky);
  });

  it('refuses a non-finite number', () => {
    expect(() => renderTextProto({ max_batch_size: Number.NaN })).toThrow(/cannot write NaN/);
  });
});

import { classesOf, InvalidPackageError, type Manifest, PackageFiles } from '../../core/model/manifest';
import type { TritonServingOptions } from '../../core/triton-serving';
import { decodeModel, onnx, type ValueInfoProto } from '../onnx/proto';
import { EnumValue, renderTextProto, type TextMessage } from './text-proto';

/** One input or output of a Triton model configuration. */
export interface TritonTensorConfig {
  readonly name: string;
  /** Triton data type, e.g. TYPE_FP32. */
  readonly dataType: string;
  /** Dimensions without the batch axis when max_batch_size > 0; -1 for a variable dimension. */
  readonly dims: readonly number[];
  /** Shape the tensor has for the model when it differs from dims (a [batch] output is dims [1], reshape []). */
  readonly reshape?: readonly number[];
}

/** The parts of a Triton model configuration this project writes. */
export interface TritonModelConfig {
  readonly name: string;
  readonly platform: 'onnxruntime_onnx';
  readonly maxBatchSize: number;
  readonly inputs: readonly TritonTensorConfig[];
  readonly outputs: readonly TritonTensorConfig[];
  readonly instanceCount: number;
  /** Absent when batching is off. */
  readonly dynamicBatching?: { readonly preferredBatchSizes: readonly number[]; readonly maxQueueDelayMicros: number };
  readonly tensorRt?: { readonly precisionMode: 'FP16'; readonly maxWorkspaceSizeBytes: number };
}

/** ONNX element types → Triton data types (https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_configuration.md#datatypes). */
const TRITON_TYPES: Readonly<Record<number, string>> = {
  [onnx.TensorProto.DataType.FLOAT]: 'TYPE_FP32',
  [onnx.TensorProto.DataType.FLOAT16]: 'TYPE_FP16',
  [onnx.TensorProto.DataType.BFLOAT16]: 'TYPE_BF16',
  [onnx.TensorProto.DataType.DOUBLE]: 'TYPE_FP64',
  [onnx.TensorProto.DataType.INT8]: 'TYPE_INT8',
  [onnx.TensorProto.DataType.INT16]: 'TYPE_INT16',
  [onnx.TensorProto.DataType.INT32]: 'TYPE_INT32',
  [onnx.TensorProto.DataType.INT64]: 'TYPE_INT64',
  [onnx.TensorProto.DataType.UINT8]: 'TYPE_UINT8',
  [onnx.TensorProto.DataType.UINT16]: 'TYPE_UINT16',
  [onnx.TensorProto.DataType.UINT32]: 'TYPE_UINT32',
  [onnx.TensorProto.DataType.UINT64]: 'TYPE_UINT64',
  [onnx.TensorProto.DataType.BOOL]: 'TYPE_BOOL',
  [onnx.TensorProto.DataType.STRING]: 'TYPE_STRING',
};

/** Declared dimensions: a number when fixed, null when symbolic or unknown. */
type DeclaredShape = ReadonlyArray<number | null>;

/**
 * The Triton configuration of a model package's ONNX model: the tensors the manifest names,
 * with the types and dimensions the model itself declares, served by the ONNX Runtime backend
 * on GPU instances with dynamic batching.
 */
export function tritonModelConfig(manifest: Manifest, model: Uint8Array, options: TritonServingOptions = {}): TritonModelConfig {
  const maxBatchSize = options.maxBatchSize ?? 1024;
  const preferredBatchSizes = options.preferredBatchSizes ?? [8, 16, 32];
  const maxQueueDelayMicros = options.maxQueueDelayMicros ?? 500;
  const instanceCount = options.instanceCount ?? 1;
  const useTensorRt = options.useTensorRt ?? false;

  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) throw new Error(`maxBatchSize must be a whole number of at least 0 (received ${maxBatchSize})`);
  if (!Number.isInteger(instanceCount) || instanceCount < 1) throw new Error(`instanceCount must be a whole number of at least 1 (received ${instanceCount})`);
  if (!Number.isInteger(maxQueueDelayMicros) || maxQueueDelayMicros < 0) {
    throw new Error(`maxQueueDelayMicros must be a whole number of at least 0 (received ${maxQueueDelayMicros})`);
  }
  const badSize = preferredBatchSizes.find((size) => !Number.isInteger(size) || size < 1 || (maxBatchSize > 0 && size > maxBatchSize));
  if (badSize !== undefined) {
    throw new Error(`preferredBatchSizes must be whole numbers from 1 to maxBatchSize ${maxBatchSize} (received ${badSize})`);
  }

  const graph = decodeGraph(model);
  const input = graph.inputs.get(manifest.input.tensor);
  if (!input) throw new InvalidPackageError(PackageFiles.model, `has no input "${manifest.input.tensor}" named in the manifest; its inputs are ${[...graph.inputs.keys()].join(', ')}`);
  const output = graph.outputs.get(manifest.output.tensor);
  if (!output) throw new InvalidPackageError(PackageFiles.model, `has no output "${manifest.output.tensor}" named in the manifest; its outputs are ${[...graph.outputs.keys()].join(', ')}`);

  const features = manifest.input.features.length;
  const scoreColumns = manifest.task === 'regression' ? 1 : classesOf(manifest).length;
  return {
    name: manifest.name,
    platform: 'onnxruntime_onnx',
    maxBatchSize,
    inputs: [tensorConfig(input.name, input.elemType, input.shape ?? [null, features], maxBatchSize)],
    outputs: [tensorConfig(output.name, output.elemType, output.shape ?? [null, scoreColumns], maxBatchSize)],
    instanceCount,
    dynamicBatching: maxBatchSize > 0 ? { preferredBatchSizes: [...preferredBatchSizes], maxQueueDelayMicros } : undefined,
    // 1 GiB: room for TensorRT's tactics on a 24 GB A10G; the engine itself is a few MB for a tabular model.
    tensorRt: useTensorRt ? { precisionMode: 'FP16', maxWorkspaceSizeBytes: 1 << 30 } : undefined,
  };
}

/** `config.pbtxt`: the configuration in protocol-buffer text format. */
export function renderModelConfig(config: TritonModelConfig): string {
  const tensor = (t: TritonTensorConfig): TextMessage => ({
    name: t.name,
    data_type: new EnumValue(t.dataType),
    dims: [...t.dims],
    reshape: t.reshape ? { shape: [...t.reshape] } : undefined,
  });
  const message: TextMessage = {
    name: config.name,
    platform: config.platform,
    max_batch_size: config.maxBatchSize,
    input: config.inputs.map(tensor),
    output: config.outputs.map(tensor),
    instance_group: [{ kind: new EnumValue('KIND_GPU'), count: config.instanceCount }],
    dynamic_batching: config.dynamicBatching
      ? {
          preferred_batch_size: [...config.dynamicBatching.preferredBatchSizes],
          max_queue_delay_microseconds: config.dynamicBatching.maxQueueDelayMicros,
        }
      : undefined,
    optimization: config.tensorRt
      ? {
          execution_accelerators: {
            gpu_execution_accelerator: [
              {
                name: 'tensorrt',
                parameters: [
                  { key: 'precision_mode', value: config.tensorRt.precisionMode },
                  { key: 'max_workspace_size_bytes', value: String(config.tensorRt.maxWorkspaceSizeBytes) },
                ],
              },
            ],
          },
        }
      : undefined,
  };
  return renderTextProto(message);
}

/** Dimensions Triton expects: without the batch axis when batching, -1 where the model leaves a dimension open. */
function tensorConfig(name: string, elemType: number, shape: DeclaredShape, maxBatchSize: number): TritonTensorConfig {
  const dataType = TRITON_TYPES[elemType];
  if (!dataType) throw new InvalidPackageError(PackageFiles.model, `tensor "${name}" has ONNX element type ${elemType}, which Triton's ONNX backend does not take`);
  const dims = shape.map((d) => d ?? -1);
  if (maxBatchSize === 0) return { name, dataType, dims: dims.length ? dims : [1], reshape: dims.length ? undefined : [] };
  const [batch, ...rest] = shape;
  if (shape.length === 0 || (batch !== null && batch !== undefined)) {
    throw new InvalidPackageError(
      PackageFiles.model,
      `tensor "${name}" has no variable batch axis (shape [${dims.join(', ')}]); export it with a symbolic first dimension, or serve it with maxBatchSize 0`,
    );
  }
  // A [batch] tensor has no dims left; Triton wants at least one, and reshapes [1] back to [].
  if (rest.length === 0) return { name, dataType, dims: [1], reshape: [] };
  return { name, dataType, dims: rest.map((d) => d ?? -1) };
}

interface GraphTensor {
  readonly name: string;
  readonly elemType: number;
  /** Null when the model declares no shape. */
  readonly shape: DeclaredShape | null;
}

/** The graph's real inputs (initializers left out, which older exporters also list as inputs) and outputs. */
function decodeGraph(bytes: Uint8Array): { inputs: Map<string, GraphTensor>; outputs: Map<string, GraphTensor> } {
  let graph;
  try {
    graph = decodeModel(bytes).graph;
  } catch (error) {
    throw new InvalidPackageError(PackageFiles.model, `not an ONNX model: ${(error as Error).message}`);
  }
  if (!graph) throw new InvalidPackageError(PackageFiles.model, 'has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const tensors = (list: readonly ValueInfoProto[] | null | undefined) =>
    new Map((list ?? []).filter((v) => v.name && !initializers.has(v.name)).map((v) => [v.name!, graphTensor(v)] as const));
  return { inputs: tensors(graph.input), outputs: tensors(graph.output) };
}

function graphTensor(value: ValueInfoProto): GraphTensor {
  const tensorType = value.type?.tensorType;
  if (!tensorType) throw new InvalidPackageError(PackageFiles.model, `"${value.name}" is not a tensor (maps and sequences cannot be served by Triton's ONNX backend here)`);
  const dims = tensorType.shape?.dim;
  return {
    name: value.name!,
    elemType: tensorType.elemType ?? 0,
    // dimValue and dimParam are a oneof: a symbolic or unknown dimension has no dimValue. Fixed
    // dimensions decode as protobufjs Longs.
    shape: dims ? dims.map((d) => (d.dimValue === null || d.dimValue === undefined ? null : Number(d.dimValue.toString()))) : null,
  };
}

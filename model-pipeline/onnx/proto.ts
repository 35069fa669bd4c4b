import onnxProto from 'onnx-proto';

/**
 * The official onnx.proto schema compiled with protobufjs (package `onnx-proto`): encodes
 * and decodes real ModelProto messages, so the project never writes protobuf bytes by hand.
 */
export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** ONNX element type codes used here. */
export const ElementType = {
  FLOAT: onnx.TensorProto.DataType.FLOAT,
  INT64: onnx.TensorProto.DataType.INT64,
  INT8: onnx.TensorProto.DataType.INT8,
  UINT8: onnx.TensorProto.DataType.UINT8,
  BOOL: onnx.TensorProto.DataType.BOOL,
} as const;

/** Opset our exported graphs declare: supported by every current ONNX Runtime and Triton. */
export const DEFAULT_OPSET = 17;

/** Serializes a ModelProto. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Parses ModelProto bytes. */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

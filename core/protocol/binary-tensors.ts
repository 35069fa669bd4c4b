import { ProtocolError } from './errors';

/**
 * The binary tensor data extension of the Open Inference Protocol v2 over HTTP, as Triton and
 * KServe define it (https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md):
 * the body is the JSON request, `Inference-Header-Content-Length` bytes long, followed by the raw
 * bytes of every tensor whose `parameters.binary_data_size` is set, in the order the JSON lists
 * them: little-endian, row-major, no padding; BOOL one byte; BYTES each element a 4-byte
 * little-endian length and its bytes. Responses are framed the same way.
 *
 * Written here because no npm library implements the server side of this framing; the reference
 * clients (tritonclient.http sync and asyncio) send it by default.
 */

/** The header giving the JSON part's length. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/** Bytes per element of each fixed-size datatype. */
export const DATATYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayLike<number> | ArrayLike<bigint>;

/** The typed array each multi-byte or signed datatype is read as. */
const VIEWS: Readonly<Record<string, ViewConstructor>> = {
  INT8: Int8Array,
  INT16: Int16Array,
  UINT16: Uint16Array,
  INT32: Int32Array,
  UINT32: Uint32Array,
  FP32: Float32Array,
  INT64: BigInt64Array,
  UINT64: BigUint64Array,
  FP64: Float64Array,
};

/** A body split into its JSON header and the binary part after it. */
export interface FramedBody {
  readonly header: string;
  readonly binary: Uint8Array;
}

/**
 * Splits a body by the `Inference-Header-Content-Length` header; a body without the header is
 * all JSON (the extension's rule), with an empty binary part.
 */
export function splitFramedBody(body: Uint8Array, headerLength: string | undefined): FramedBody {
  if (headerLength === undefined) return { header: utf8(body), binary: new Uint8Array(0) };
  const length = /^\d{1,12}$/.test(headerLength.trim()) ? Number(headerLength.trim()) : Number.NaN;
  if (!Number.isSafeInteger(length)) {
    throw new ProtocolError(400, 'invalid_request', `Inference-Header-Content-Length must be a byte count, got ${JSON.stringify(headerLength.slice(0, 40))}`, { field: INFERENCE_HEADER });
  }
  if (length > body.length) {
    throw new ProtocolError(400, 'invalid_request', `Inference-Header-Content-Length is ${length} but the body has only ${body.length} bytes`, { field: INFERENCE_HEADER });
  }
  return { header: utf8(body.subarray(0, length)), binary: body.subarray(length) };
}

/** An input's binary data as declared: where its bytes are, and how many elements they must hold. */
export interface BinaryInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Whether the JSON also carries `data` (forbidden together with binary_data_size). */
  readonly hasData: boolean;
}

/**
 * Cuts the binary part into one slice per input that declares `binary_data_size` (undefined for
 * the others), checking every size against shape × datatype and that the sizes add up to the
 * binary part exactly. Errors name the tensor (`inputs[i]`).
 */
export function sliceBinaryInputs(inputs: readonly BinaryInput[], binary: Uint8Array): (Uint8Array | undefined)[] {
  let at = 0;
  const slices = inputs.map((input, i) => {
    const declared = input.parameters?.binary_data_size;
    if (declared === undefined) return undefined;
    const field = `inputs[${i}].parameters.binary_data_size`;
    if (typeof declared !== 'number' || !Number.isSafeInteger(declared) || declared < 0) {
      throw new ProtocolError(400, 'invalid_request', `${field}: must be a byte count, got ${JSON.stringify(declared)}`, { field });
    }
    if (input.hasData) {
      throw new ProtocolError(400, 'invalid_request', `inputs[${i}]: "${input.name}" has both data and binary_data_size; send one`, { field: `inputs[${i}].data` });
    }
    const size = DATATYPE_BYTES[input.datatype];
    const elements = input.shape.reduce((a, b) => a * b, 1);
    if (size !== undefined && declared !== elements * size) {
      throw new ProtocolError(400, 'invalid_request', `${field}: "${input.name}" of shape [${input.shape.join(', ')}] and datatype ${input.datatype} takes ${elements * size} bytes, not ${declared}`, { field });
    }
    if (at + declared > binary.length) {
      throw new ProtocolError(400, 'invalid_request', `${field}: "${input.name}" needs ${declared} bytes but only ${binary.length - at} follow the JSON header`, { field });
    }
    const slice = binary.subarray(at, at + declared);
    at += declared;
    return slice;
  });
  if (at !== binary.length) {
    throw new ProtocolError(400, 'invalid_request', `the body has ${binary.length - at} bytes after the JSON header and the binary inputs it declares`, { field: INFERENCE_HEADER });
  }
  return slices;
}

/**
 * A binary tensor's elements as a typed array of its datatype: the bytes themselves when they
 * are aligned, else one copy (a memcpy, never element by element). The platforms Node.js and
 * Lambda run on are little-endian, the extension's byte order.
 */
export function typedView(datatype: string, bytes: Uint8Array): ArrayLike<number> | ArrayLike<bigint> | Uint8Array {
  const size = DATATYPE_BYTES[datatype];
  if (size === undefined) throw new Error(`${datatype} has no fixed element size`);
  // Uint8Array's own slice copies with one memcpy (a Buffer's slice would not copy at all).
  const aligned = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  // BOOL, UINT8 and FP16 (raw half-float bits; callers refuse FP16 for features) stay bytes.
  const View = VIEWS[datatype];
  return View ? new View(aligned.buffer, aligned.byteOffset, aligned.byteLength / size) : new Uint8Array(aligned.buffer, aligned.byteOffset, aligned.byteLength);
}

/** The strings of a binary BYTES tensor (each a 4-byte little-endian length, then UTF-8 bytes). */
export function decodeBytesTensor(bytes: Uint8Array, field: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: string[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new ProtocolError(400, 'invalid_request', `${field}: element ${values.length} is cut short: its 4-byte length prefix runs past the tensor's bytes`, { field });
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.length) {
      throw new ProtocolError(400, 'invalid_request', `${field}: element ${values.length} declares ${length} bytes but only ${bytes.length - at} remain`, { field });
    }
    try {
      values.push(decoder.decode(bytes.subarray(at, at + length)));
    } catch {
      throw new ProtocolError(400, 'invalid_request', `${field}: element ${values.length} is not valid UTF-8`, { field });
    }
    at += length;
  }
  return values;
}

/** BYTES elements as the extension frames them; repeated values (class labels) are encoded once. */
export function encodeBytesTensor(values: readonly string[]): Uint8Array {
  const encoded = new Map<string, Buffer>();
  let size = 0;
  for (const value of values) {
    let bytes = encoded.get(value);
    if (!bytes) encoded.set(value, (bytes = Buffer.from(value, 'utf8')));
    size += 4 + bytes.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const value of values) {
    const bytes = encoded.get(value)!;
    out.writeUInt32LE(bytes.length, at);
    out.set(bytes, at + 4);
    at += 4 + bytes.length;
  }
  return out;
}

/** A framed body: the JSON header, then each binary part in order; returns the body and the header's byte length. */
export function frameBody(header: unknown, parts: readonly Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const body = Buffer.allocUnsafe(json.length + parts.reduce((n, p) => n + p.byteLength, 0));
  json.copy(body, 0);
  let at = json.length;
  for (const part of parts) {
    body.set(part, at);
    at += part.byteLength;
  }
  return { body, headerLength: json.length };
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * An OIP v2 client that frames requests and reads responses as the reference client
 * (tritonclient.http) does with its defaults: every input as binary data after the JSON
 * (`parameters.binary_data_size`, `Inference-Header-Content-Length`), and, when no outputs are
 * named, `parameters.binary_data_output: true`. The sync client sends no Content-Type; the
 * asyncio client labels every body application/octet-stream (`style: 'asyncio'`).
 */

export type ClientValues = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | string[];

export interface ClientInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly values: ClientValues;
  /** Send as JSON `data` instead (set_data_from_numpy(binary_data=False)). @default true */
  readonly binary?: boolean;
}

export interface ClientRequest {
  readonly inputs: readonly ClientInput[];
  /** Outputs to ask for, each binary unless said otherwise; absent asks for every output as binary. */
  readonly outputs?: readonly { readonly name: string; readonly binary?: boolean }[];
  readonly id?: string;
  readonly style?: 'sync' | 'asyncio';
}

/** The bytes of one input as the extension lays them out. */
export function tensorBytes(values: ClientValues): Buffer {
  if (Array.isArray(values)) {
    return Buffer.concat(values.map((v) => {
      const bytes = Buffer.from(v, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return Buffer.concat([length, bytes]);
    }));
  }
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** The body and headers of a request. */
export function encodeRequest(request: ClientRequest): { body: Buffer; headers: Record<string, string> } {
  const parts: Buffer[] = [];
  const inputs = request.inputs.map((input) => {
    const tensor = { name: input.name, shape: input.shape, datatype: input.datatype };
    if (input.binary === false) {
      const data = Array.isArray(input.values) ? input.values : Array.from(input.values as ArrayLike<number | bigint>, Number);
      return { ...tensor, data };
    }
    const bytes = tensorBytes(input.values);
    parts.push(bytes);
    return { ...tensor, parameters: { binary_data_size: bytes.length } };
  });
  const header: Record<string, unknown> = { ...(request.id ? { id: request.id } : {}), inputs };
  if (request.outputs) header.outputs = request.outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary ?? true } }));
  else header.parameters = { binary_data_output: true };
  const json = Buffer.from(JSON.stringify(header));
  const headers: Record<string, string> = request.style === 'asyncio' ? { 'content-type': 'application/octet-stream' } : {};
  if (parts.length) headers['inference-header-content-length'] = String(json.length);
  return { body: Buffer.concat([json, ...parts]), headers };
}

export interface DecodedResponse {
  readonly header: { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: Record<string, unknown> }[]; [key: string]: unknown };
  /** Each output's values, from binary bytes or from JSON data. */
  readonly outputs: Map<string, number[] | string[]>;
}

/** Reads a response as InferResult does: the JSON header by its length header, then each binary output in order. */
export function decodeResponse(body: Buffer, headerLength: string | null): DecodedResponse {
  const length = headerLength === null ? body.length : Number(headerLength);
  const header = JSON.parse(body.subarray(0, length).toString('utf8')) as DecodedResponse['header'];
  const outputs = new Map<string, number[] | string[]>();
  let at = length;
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    if (typeof size !== 'number') {
      outputs.set(output.name, output.data as number[] | string[]);
      continue;
    }
    const bytes = body.subarray(at, at + size);
    at += size;
    if (output.datatype === 'BYTES') {
      const strings: string[] = [];
      for (let i = 0; i < bytes.length; ) {
        const n = bytes.readUInt32LE(i);
        strings.push(bytes.subarray(i + 4, i + 4 + n).toString('utf8'));
        i += 4 + n;
      }
      outputs.set(output.name, strings);
    } else {
      const copy = Buffer.from(bytes);
      outputs.set(output.name, Array.from(new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4)));
    }
  }
  if (at !== body.length) throw new Error(`the response has ${body.length - at} bytes after its outputs`);
  return { header, outputs };
}

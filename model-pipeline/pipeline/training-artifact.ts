import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { classesOf, type Manifest } from '../../core/model/manifest';
import { OnnxSession } from '../../core/model/onnx-session';

/**
 * The regular files of a (gzipped) tar archive by path, `./` prefixes dropped. tar-stream reads
 * what SageMaker's tar writes (GNU and pax headers, long names), which a minimal reader would not.
 */
export async function untar(archive: Uint8Array): Promise<Map<string, Uint8Array>> {
  const gzipped = archive[0] === 0x1f && archive[1] === 0x8b;
  const bytes = gzipped ? gunzipSync(archive) : archive;
  const files = new Map<string, Uint8Array>();
  const reader = extract();
  reader.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file') files.set(entry.header.name.replace(/^(?:\.\/)+/, ''), new Uint8Array(Buffer.concat(chunks)));
  }
  return files;
}

/**
 * Checks that a trained model takes what the serving model takes and answers the same way: one
 * 2-D float32 input as wide as the feature schema, and a float output as wide as the classes.
 * Throws a reason naming what differs.
 */
export async function checkModelSignature(onnx: Uint8Array, serving: Manifest, job: string): Promise<void> {
  let session: OnnxSession;
  try {
    session = await OnnxSession.create(onnx);
  } catch (error) {
    throw new Error(`training job ${job}: ONNX Runtime cannot load its model.onnx: ${(error as Error).message}`);
  }
  try {
    const features = serving.input.features.map((f) => f.name);
    const describe = (s: { name: string; type: string; shape: readonly unknown[] }) => `${s.name} (${s.type} [${s.shape.join(', ')}])`;
    const inputs = session.inputs;
    const input = inputs[0];
    if (inputs.length !== 1 || !input || input.type !== 'float32' || input.shape.length !== 2) {
      throw new Error(
        `training job ${job}: model.onnx takes ${inputs.map(describe).join(', ') || 'no input'}; the serving model's schema needs one 2-D float32 input of ${features.length} features (${features.join(', ')})`,
      );
    }
    const width = input.shape[1];
    if (typeof width === 'number' && width !== features.length) {
      throw new Error(`training job ${job}: model.onnx's input ${describe(input)} takes ${width} features; the serving model's schema has ${features.length} (${features.join(', ')})`);
    }
    const classes = classesOf(serving);
    if (classes.length) {
      // A binary classifier may answer with one sigmoid column; any other with one score per class.
      const fits = (s: { type: string; shape: readonly unknown[] }) =>
        s.type === 'float32' && s.shape.length >= 1 && s.shape.length <= 2 && [classes.length, ...(classes.length === 2 ? [1] : [])].some((w) => typeof s.shape.at(-1) !== 'number' || s.shape.at(-1) === w);
      if (!session.outputs.some(fits)) {
        throw new Error(
          `training job ${job}: model.onnx has no float output of ${classes.length} class scores (${classes.join(', ')}); its outputs are ${session.outputs.map(describe).join(', ')}`,
        );
      }
    }
  } finally {
    await session.release();
  }
}

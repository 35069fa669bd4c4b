import { pipeline, Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { classesOf, DEFAULT_PACKAGE_LIMITS, type Manifest } from '../../core/model/manifest';
import { OnnxSession } from '../../core/model/onnx-session';

/** Bounds of an untar, so that a hostile archive (a gzip bomb, a forged header) is refused in bounded memory and time. */
export interface UntarLimits {
  /** Largest regular file, checked from its header before its body is read. @default 2 GiB, the largest model a package holds */
  readonly maxEntryBytes: number;
  /**
   * Largest size of the archive once decompressed (headers, bodies, padding), counted as gunzip
   * produces it; it bounds both the memory the files take and the work of a stream of zero blocks.
   * @default the entry limit + 256 MiB, room for the model and the small files beside it
   */
  readonly maxTotalBytes: number;
  /** Most entries (files, folders, links). @default 10 000 */
  readonly maxEntries: number;
}

export const TRAINING_ARTIFACT_LIMITS: UntarLimits = {
  maxEntryBytes: DEFAULT_PACKAGE_LIMITS.modelBytes,
  maxTotalBytes: DEFAULT_PACKAGE_LIMITS.modelBytes + 256 * 1024 ** 2,
  maxEntries: 10_000,
};

/**
 * The regular files of a (gzipped) tar archive by path, `./` prefixes dropped, within `limits`.
 * tar-stream reads what SageMaker's tar writes (GNU and pax headers, long names), which a minimal
 * reader would not. The archive is decompressed as a stream and never whole: a 4.7 MB gzip holds
 * 1 GiB of zeros, and decompressing it in one call would allocate all of it before any check.
 */
export async function untar(archive: Uint8Array, limits: Partial<UntarLimits> = {}): Promise<Map<string, Uint8Array>> {
  const { maxEntryBytes, maxTotalBytes, maxEntries } = { ...TRAINING_ARTIFACT_LIMITS, ...limits };
  const gzipped = archive[0] === 0x1f && archive[1] === 0x8b;
  const reader = extract();
  const stages: NodeJS.ReadableStream[] = [Readable.from([Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength)])];
  if (gzipped) stages.push(createGunzip());
  // An error of a stage reaches the loop below through the destroyed reader; nothing else to do here.
  pipeline([...stages, byteBudget(maxTotalBytes), reader as unknown as NodeJS.WritableStream], () => {});
  const files = new Map<string, Uint8Array>();
  let entries = 0;
  for await (const entry of reader) {
    const { name, size = 0, type } = entry.header;
    if (++entries > maxEntries) throw new Error(`training artifact: holds more than ${maxEntries} entries`);
    if (size > maxEntryBytes) throw new Error(`training artifact: entry ${name} is larger than ${maxEntryBytes} bytes (its header says ${size})`);
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (type === 'file') files.set(name.replace(/^(?:\.\/)+/, ''), new Uint8Array(Buffer.concat(chunks)));
  }
  return files;
}

/** A pass-through stage that fails once more than `max` bytes went through it. */
function byteBudget(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > max ? new Error(`training artifact: decompresses to more than ${max} bytes`) : null, chunk);
    },
  });
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

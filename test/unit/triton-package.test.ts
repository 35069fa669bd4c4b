import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import type { ModelPackage } from '../../core/model/model-package';
import { ModelRepository } from '../../core/model/registry';
import { tritonArtifactKey } from '../../core/layout';
import { buildTritonArtifact, type TritonArtifact, writeTritonArtifact } from '../../model-pipeline/triton/artifact';
import { tarArchive } from '../../model-pipeline/triton/tar';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** One member of a tar archive as read back by {@link readTar}. */
interface Member {
  name: string;
  type: string;
  mode: number;
  size: number;
  mtime: number;
  body: Uint8Array;
}

/** Reads a ustar archive (independently of the writer): every member up to the end-of-archive blocks, checksums verified. */
function readTar(archive: Uint8Array): Member[] {
  const members: Member[] = [];
  const text = (block: Uint8Array, offset: number, width: number) => new TextDecoder().decode(block.subarray(offset, offset + width)).replace(/\0.*$/s, '');
  const octal = (block: Uint8Array, offset: number, width: number) => parseInt(text(block, offset, width).trim() || '0', 8);
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const stored = octal(header, 148, 8);
    const computed = header.reduce((sum, b, i) => sum + (i >= 148 && i < 156 ? 32 : b), 0);
    if (stored !== computed) throw new Error(`bad checksum at offset ${offset}: stored ${stored}, computed ${computed}`);
    if (text(header, 257, 6) !== 'ustar') throw new Error(`not a ustar header at offset ${offset}`);
    const size = octal(header, 124, 12);
    members.push({
      name: text(header, 0, 100),
      type: text(header, 156, 1),
      mode: octal(header, 100, 8),
      size,
      mtime: octal(header, 136, 12),
      body: archive.slice(offset + 512, offset + 512 + size),
    });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return members;
}

const tmp = useTempDir('mlops-triton-');
let pkg: ModelPackage;
let artifact: TritonArtifact;
let members: Member[];

beforeAll(async () => {
  pkg = await trainDemoPackage(tmp.path);
  artifact = buildTritonArtifact(pkg);
  members = readTar(gunzipSync(artifact.bytes));
});

describe('the Triton artifact (model.tar.gz)', () => {
  it('is a gzip stream', () => {
    expect([...artifact.bytes.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
  });

  it('holds a one-model Triton repository: <model>/config.pbtxt and <model>/1/model.onnx, with their folders', () => {
    expect(members.map((m) => m.name)).toEqual(['demo/', 'demo/config.pbtxt', 'demo/1/', 'demo/1/model.onnx']);
    expect(members.map((m) => m.type)).toEqual(['5', '0', '5', '0']);
  });

  it('carries the package\'s model.onnx byte for byte', () => {
    const model = members.find((m) => m.name === 'demo/1/model.onnx')!;
    const original = pkg.files.get('model.onnx')!;

    expect(model.size).toBe(original.length);
    expect(Buffer.from(model.body).equals(Buffer.from(original))).toBe(true);
  });

  it('carries the generated config.pbtxt', () => {
    const config = members.find((m) => m.name === 'demo/config.pbtxt')!;

    expect(new TextDecoder().decode(config.body)).toBe(artifact.configText);
    expect(config.size).toBe(Buffer.byteLength(artifact.configText));
  });

  it('configures the demo model\'s own input and output from its manifest', () => {
    const features = pkg.manifest.input.features.length;

    expect(artifact.config.inputs).toEqual([{ name: 'features', dataType: 'TYPE_FP32', dims: [features] }]);
    expect(artifact.config.outputs).toEqual([{ name: 'probabilities', dataType: 'TYPE_FP32', dims: [2] }]);
  });

  it('gives files mode 0644 and folders 0755', () => {
    expect(members.map((m) => m.mode.toString(8))).toEqual(['755', '644', '755', '644']);
  });

  it('stamps every member with the package\'s creation time, not the time of packaging', () => {
    const created = Math.floor(Date.parse(pkg.manifest.createdAt) / 1000);

    expect(new Set(members.map((m) => m.mtime))).toEqual(new Set([created]));
  });

  it('is reproducible: the same package gives the same bytes', () => {
    expect(Buffer.from(buildTritonArtifact(pkg).bytes).equals(Buffer.from(artifact.bytes))).toBe(true);
  });

  it('is read by GNU tar with the same names and sizes', async () => {
    const file = tmp.file('model.tar.gz');
    await writeFile(file, artifact.bytes);

    const listing = execFileSync('tar', ['-tzvf', file], { encoding: 'utf8' });
    const rows = listing.trim().split('\n').map((line) => line.trim().split(/\s+/));

    expect(rows.map((r) => r[r.length - 1])).toEqual(members.map((m) => m.name));
    expect(rows.map((r) => Number(r[2]))).toEqual(members.map((m) => m.size));
  });

  it('unpacks with GNU tar to the same model.onnx', async () => {
    const out = tmp.file('unpacked');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xzf', tmp.file('model.tar.gz'), '-C', out]);

    const unpacked = await readFile(join(out, 'demo', '1', 'model.onnx'));

    expect(unpacked.equals(Buffer.from(pkg.files.get('model.onnx')!))).toBe(true);
  });
});

describe('writeTritonArtifact', () => {
  it('writes the artifact next to the package, under models/<name>/<version>/triton/', async () => {
    const repository = new ModelRepository(new DirectoryStore(tmp.file('bucket')));

    const { key } = await writeTritonArtifact(repository, pkg);

    expect(key).toBe('models/demo/1.0.0/triton/model.tar.gz');
    expect(key).toBe(tritonArtifactKey('demo', '1.0.0'));
    expect(Buffer.from(await repository.store.read(key)).equals(Buffer.from(artifact.bytes))).toBe(true);
  });
});

describe('tarArchive', () => {
  it('ends with two zero blocks and pads every member to 512 bytes', () => {
    const archive = tarArchive([{ name: 'a.txt', body: new Uint8Array([1, 2, 3]) }]);

    expect(archive.length).toBe(512 + 512 + 1024);
    expect(archive.subarray(archive.length - 1024).every((b) => b === 0)).toBe(true);
  });

  it('rejects a name longer than the 100-byte name field, showing it', () => {
    expect(() => tarArchive([{ name: `${'x'.repeat(101)}`, body: new Uint8Array(1) }])).toThrow(/at most 100 are supported \(received x+\)/);
  });

  it('rejects a name that would escape the folder it is unpacked in', () => {
    expect(() => tarArchive([{ name: '../etc/passwd', body: new Uint8Array(1) }])).toThrow(/must be relative/);
    expect(() => tarArchive([{ name: '/etc/passwd', body: new Uint8Array(1) }])).toThrow(/must be relative/);
  });

  it('rejects a folder with contents', () => {
    expect(() => tarArchive([{ name: 'dir/', body: new Uint8Array(1) }])).toThrow(/is a folder .* but has contents/);
  });
});

import { describe, expect, it } from 'vitest';
import { servingModelFile } from '../../core/model/engine';
import { InvalidPackageError, type ManifestInput, parseManifest } from '../../core/model/manifest';
import type { ModelPackage } from '../../core/model/model-package';

const entry = { sha256: 'a'.repeat(64), bytes: 1 };
const base: ManifestInput = {
  schemaVersion: 1,
  name: 'm',
  version: '1.0.0',
  task: 'binary',
  input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }] },
  output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2026-11-23T10:00:00.000Z',
  files: { 'model.onnx': entry, 'model.int8.onnx': entry, 'quantization.json': entry },
};
const summary = { file: 'model.int8.onnx', mode: 'static', servable: true, report: 'quantization.json' } as const;

function packageWith(quantization: ManifestInput['quantization'], files = ['model.onnx', 'model.int8.onnx', 'quantization.json']): ModelPackage {
  return { manifest: parseManifest({ ...base, quantization }), location: 'memory', files: new Map(files.map((f) => [f, new Uint8Array(1)])) };
}

describe('manifest quantization section', () => {
  it('accepts a summary whose int8 model and report are listed files', () => {
    expect(parseManifest({ ...base, quantization: summary }).quantization).toEqual({ ...summary, failures: [] });
  });

  it('rejects a summary naming an int8 model that is not in files', () => {
    expect(() => parseManifest({ ...base, files: { 'model.onnx': entry, 'quantization.json': entry }, quantization: summary })).toThrow(/names model\.int8\.onnx, which is not in files/);
  });

  it('rejects a servable summary without an int8 model', () => {
    expect(() => parseManifest({ ...base, quantization: { ...summary, file: null } })).toThrow(InvalidPackageError);
  });
});

describe('servingModelFile', () => {
  it('serves model.int8.onnx when it passed its gate', () => {
    expect(servingModelFile(packageWith(summary))).toBe('model.int8.onnx');
  });

  it('serves model.onnx when the int8 model failed its gate', () => {
    expect(servingModelFile(packageWith({ ...summary, servable: false, failures: ['speedup: 1.1x'] }))).toBe('model.onnx');
  });

  it('serves model.onnx when the package has no quantization section', () => {
    expect(servingModelFile(packageWith(undefined))).toBe('model.onnx');
  });

  it('serves model.onnx when int8 is not preferred', () => {
    expect(servingModelFile(packageWith(summary), false)).toBe('model.onnx');
  });
});

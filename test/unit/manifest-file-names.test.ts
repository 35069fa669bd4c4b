import { describe, expect, it } from 'vitest';
import { fileNameProblem, InvalidPackageError, type ManifestInput, parseManifest } from '../../core/model/manifest';

const entry = { sha256: 'a'.repeat(64), bytes: 10 };
const valid: ManifestInput = {
  schemaVersion: 1,
  name: 'churn',
  version: '1.2.0',
  task: 'binary',
  input: { tensor: 'features', features: [{ name: 'age', type: 'numeric' }] },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2026-11-23T10:00:00.000Z',
  files: { 'model.onnx': entry },
};

/** The error of a manifest that also lists `name`, or '' when it is accepted. */
function errorListing(name: string): string {
  try {
    parseManifest({ ...valid, files: { ...valid.files, [name]: entry } });
    return '';
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPackageError);
    return (error as Error).message;
  }
}

describe('manifest file names are plain names inside the package', () => {
  it('accepts the names packages use', () => {
    for (const name of ['model.onnx', 'model.int8.onnx', 'baseline.json', 'quantization-report.json', 'optimization.json']) expect(fileNameProblem(name)).toBeNull();
    expect(errorListing('baseline.json')).toBe('');
  });

  it('refuses a traversal name, naming the field and the value', () => {
    expect(errorListing('../../../../etc/hostname')).toBe('manifest.json: files: "../../../../etc/hostname" contains a path separator; a package holds plain file names');
  });

  it('refuses an absolute path', () => {
    expect(errorListing('/etc/hostname')).toMatch(/^manifest\.json: files: "\/etc\/hostname" contains a path separator/);
  });

  it('refuses a backslash separator', () => {
    expect(errorListing('..\\..\\boot.ini')).toMatch(/files: "\.\.\\\\\.\.\\\\boot\.ini" contains a path separator/);
  });

  it('refuses "." and ".."', () => {
    expect(errorListing('.')).toBe('manifest.json: files: "." is "." or contains ".."');
    expect(errorListing('..')).toBe('manifest.json: files: ".." is "." or contains ".."');
  });

  it('refuses an empty name', () => {
    expect(errorListing('')).toBe('manifest.json: files: "" is empty');
  });

  it('refuses a drive path', () => {
    expect(errorListing('C:model.onnx')).toMatch(/files: "C:model\.onnx" is an absolute \(drive\) path/);
  });

  it('refuses a NUL, escaped, so the error stays one line', () => {
    const message = errorListing('model.onnx\u0000.txt');
    expect(message).toContain('files: "model.onnx\\u0000.txt" contains a control character');
    expect(message).not.toContain('\u0000');
  });

  it('truncates a long bad value in the error', () => {
    const message = errorListing(`${'../'.repeat(500)}etc/hostname`);
    expect(message.length).toBeLessThan(200);
    expect(message).toMatch(/files: "(\.\.\/){20}…" contains a path separator/);
  });

  it('refuses a quantization report name outside the package, naming its path', () => {
    const files = { ...valid.files, '../report.json': entry };
    expect(() => parseManifest({ ...valid, files, quantization: { file: null, mode: 'dynamic', servable: false, report: '../report.json' } })).toThrow(
      /quantization\.report: "\.\.\/report\.json" contains a path separator/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { InvalidPackageError, type ManifestInput, nextMinorVersion, parseManifest } from '../../core/model/manifest';

const valid: ManifestInput = {
  schemaVersion: 1,
  name: 'churn',
  version: '1.2.0',
  task: 'binary',
  input: {
    tensor: 'features',
    features: [
      { name: 'age', type: 'numeric', min: 0 },
      { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] },
    ],
  },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2026-11-23T10:00:00.000Z',
  files: { 'model.onnx': { sha256: 'a'.repeat(64), bytes: 10 } },
};

function issuesOf(change: Record<string, unknown>): string {
  try {
    parseManifest({ ...valid, ...change });
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPackageError);
    return (error as Error).message;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('parseManifest', () => {
  it('accepts a complete manifest and fills defaults', () => {
    const manifest = parseManifest(valid);
    expect(manifest.metrics).toEqual({});
    expect(manifest.parentVersion).toBeNull();
    expect(manifest.input.features[0]).toMatchObject({ nullable: false });
  });

  it('names manifest.json and the field path of a bad version', () => {
    expect(issuesOf({ version: 'one' })).toMatch(/^manifest\.json: version: must be a semantic version/);
  });

  it('rejects a model name that is not DNS-safe', () => {
    expect(issuesOf({ name: 'Churn_Model' })).toMatch(/name: must be a lowercase DNS-safe name/);
  });

  it('rejects an unknown task', () => {
    expect(issuesOf({ task: 'ranking' })).toMatch(/task:/);
  });

  it('rejects a binary model without exactly two classes', () => {
    expect(issuesOf({ output: { tensor: 'p', kind: 'probabilities', classes: ['a', 'b', 'c'] } })).toMatch(
      /output\.classes: a binary model needs exactly 2 classes/,
    );
  });

  it('rejects duplicate feature names, naming the position', () => {
    const features = [valid.input.features[0], valid.input.features[0]];
    expect(issuesOf({ input: { tensor: 'x', features } })).toMatch(/input\.features\.1\.name: duplicate feature "age"/);
  });

  it('requires model.onnx among the files', () => {
    expect(issuesOf({ files: {} })).toMatch(/files: must list model\.onnx/);
  });

  it('rejects min greater than max', () => {
    const features = [{ name: 'age', type: 'numeric', min: 5, max: 1 }];
    expect(issuesOf({ input: { tensor: 'x', features } })).toMatch(/min must not exceed max/);
  });

  it('rejects a regression model whose output is not a value', () => {
    expect(issuesOf({ task: 'regression', output: { tensor: 'y', kind: 'probabilities' } })).toMatch(/a regression model outputs "value"/);
  });
});

describe('nextMinorVersion', () => {
  it('increments the minor version and resets the patch', () => {
    expect(nextMinorVersion('1.4.2')).toBe('1.5.0');
  });
});

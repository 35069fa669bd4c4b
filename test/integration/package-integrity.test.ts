import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

/**
 * Every test works on its own copy of one trained package, changes one thing, and runs the
 * command that reads that thing: `inspect` verifies hashes and the manifest schema;
 * `evaluate` and `score` also load the model and check its signature against the manifest.
 */
describe('package integrity', () => {
  const tmp = useTempDir('mlops-integrity-');
  let copies = 0;

  beforeAll(async () => {
    await mlopsOk(['generate', '--out', tmp.file('data.csv'), '--rows', '1000', '--seed', '4']);
    await mlopsOk(['train', '--data', tmp.file('data.csv'), '--label', 'churned', '--out', tmp.file('original'), '--model', 'logreg', '--epochs', '5']);
  });

  /** A fresh copy of the trained package, optionally with its manifest edited. */
  async function copyPackage(editManifest?: (manifest: Record<string, any>) => void): Promise<string> {
    const dir = tmp.file(`copy-${++copies}`);
    await cp(tmp.file('original'), dir, { recursive: true });
    if (editManifest) {
      const manifest = JSON.parse(await readFile(`${dir}/manifest.json`, 'utf8')) as Record<string, any>;
      editManifest(manifest);
      await writeFile(`${dir}/manifest.json`, JSON.stringify(manifest, null, 2));
    }
    return dir;
  }

  describe('file hashes', () => {
    it('inspect accepts an untouched package', async () => {
      const result = await mlops(['inspect', await copyPackage()]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
    });

    it('inspect refuses a package whose model.onnx has one byte flipped, naming model.onnx and sha256', async () => {
      // Prepare
      const pkg = await copyPackage();
      const bytes = await readFile(`${pkg}/model.onnx`);
      bytes[bytes.length >> 1]! ^= 0xff;
      await writeFile(`${pkg}/model.onnx`, bytes);

      // Act
      const result = await mlops(['inspect', pkg]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toContain('model.onnx');
      expect(error).toContain('sha256');
    });

    it('inspect refuses a package whose baseline.json listed in the manifest is missing, naming baseline.json', async () => {
      // Prepare
      const pkg = await copyPackage();
      await rm(`${pkg}/baseline.json`);

      // Act
      const result = await mlops(['inspect', pkg]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toContain('baseline.json');
      expect(error).toMatch(/missing/);
    });
  });

  describe('files outside the package', () => {
    it('inspect refuses a manifest listing ../../etc/hostname in one line, never hashing or printing that file', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.files['../../etc/hostname'] = { sha256: 'a'.repeat(64), bytes: 12 };
      });

      // Act
      const result = await mlops(['inspect', pkg]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toBe('mlops: manifest.json: files: "../../etc/hostname" contains a path separator; a package holds plain file names');
      if (existsSync('/etc/hostname')) expect(result.stdout + result.stderr).not.toContain(createHash('sha256').update(await readFile('/etc/hostname')).digest('hex'));
    });

    it('inspect refuses a baseline.json that links to /dev/zero in one line, at once', async () => {
      // Prepare
      const pkg = await copyPackage();
      await rm(`${pkg}/baseline.json`);
      await symlink('/dev/zero', `${pkg}/baseline.json`);

      // Act: a reader that followed the link would read for ever (and grow to gigabytes)
      const result = await mlops(['inspect', pkg], { timeoutMs: 20_000 });

      // Assess
      const error = expectOneLineError(result);
      expect(error).toBe('mlops: baseline.json: is a symbolic link, not a regular file; a package holds only regular files');
    });
  });

  describe('manifest schema', () => {
    it('inspect refuses a manifest with version "one" and task "ranking", naming manifest.json and both fields', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.version = 'one';
        m.task = 'ranking';
      });

      // Act
      const result = await mlops(['inspect', pkg]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toMatch(/^mlops: manifest\.json: /);
      expect(error).toMatch(/\bversion: /);
      expect(error).toMatch(/\btask: /);
    });

    it('inspect refuses a manifest feature of an unknown type, naming its path', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.input.features[1].type = 'text';
      });

      // Act
      const result = await mlops(['inspect', pkg]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toContain('manifest.json');
      expect(error).toContain('input.features.1.type');
    });
  });

  describe('model signature against the manifest (a package folder has no registered digest, so only loading the model can tell)', () => {
    it('evaluate accepts an untouched package', async () => {
      const result = await mlops(['evaluate', await copyPackage(), '--data', tmp.file('data.csv')]);
      expect(result.code, result.stderr).toBe(0);
    });

    it('evaluate refuses a manifest whose input tensor the model does not have, naming both', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.input.tensor = 'nope';
      });

      // Act
      const result = await mlops(['evaluate', pkg, '--data', tmp.file('data.csv')]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toContain('model.onnx');
      expect(error).toContain('"nope"');
      expect(error).toContain('features');
    });

    it('score refuses a manifest with one feature fewer than the model takes, naming both widths', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.input.features.pop();
      });
      const out = tmp.file('narrow-out.csv');

      // Act
      const result = await mlops(['score', pkg, tmp.file('data.csv'), '--out', out]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toContain('model.onnx');
      expect(error).toMatch(/takes 9 features but the manifest lists 8/);
      expect(existsSync(out)).toBe(false);
    });

    it('score refuses a manifest whose classes do not match the model\'s score columns', async () => {
      // Prepare
      const pkg = await copyPackage((m) => {
        m.task = 'multiclass';
        m.output.classes = ['no', 'yes', 'maybe'];
      });

      // Act
      const result = await mlops(['score', pkg, tmp.file('data.csv'), '--out', tmp.file('classes-out.csv')]);

      // Assess
      const error = expectOneLineError(result);
      expect(error).toMatch(/2 score columns but the manifest lists 3 classes/);
    });
  });
});

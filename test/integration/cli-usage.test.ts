import { describe, expect, it } from 'vitest';
import { expectOneLineError, mlops } from '../helpers/cli';

/** Every command and the options its --help must mention. */
const commands: Record<string, readonly string[]> = {
  generate: ['--out', '--rows', '--seed', '--task', '--noise', '--drift'],
  train: ['--data', '--label', '--out', '--name', '--model', '--hidden', '--epochs', '--seed', '--ignore', '--range'],
  import: ['--data', '--out', '--name', '--label', '--classes', '--features', '--ignore'],
  inspect: ['--json'],
  evaluate: ['--data', '--label', '--json'],
  score: ['--out', '--chunk'],
};

describe('mlops --help', () => {
  it.each(Object.entries(commands))('%s --help exits 0 and lists its options', async (command, options) => {
    // Act
    const result = await mlops([command, '--help']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: mlops ${command}\\b`));
    for (const option of options) expect(result.stdout).toContain(option);
  });

  it('lists every command in the top-level --help', async () => {
    const result = await mlops(['--help']);
    expect(result.code).toBe(0);
    for (const command of Object.keys(commands)) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });
});

describe('mlops usage errors', () => {
  it('rejects an unknown command with one line naming it', async () => {
    const error = expectOneLineError(await mlops(['frobnicate']));
    expect(error).toContain('frobnicate');
  });

  it('rejects an unknown option with one line naming it', async () => {
    const error = expectOneLineError(await mlops(['inspect', 'some-package', '--colour']));
    expect(error).toContain('--colour');
  });

  it('rejects a missing required option with one line naming it', async () => {
    const error = expectOneLineError(await mlops(['train', '--data', 'train.csv', '--out', 'pkg']));
    expect(error).toContain('--label');
  });

  it('rejects an option value of the wrong kind with one line showing the value', async () => {
    const error = expectOneLineError(await mlops(['generate', '--out', 'x.csv', '--rows', 'many']));
    expect(error).toContain('--rows');
    expect(error).toContain('"many"');
  });

  it('rejects a package folder that does not exist with one line naming manifest.json', async () => {
    const error = expectOneLineError(await mlops(['inspect', '/nonexistent/mlops-package']));
    expect(error).toContain('manifest.json');
    expect(error).toContain('/nonexistent/mlops-package');
  });
});

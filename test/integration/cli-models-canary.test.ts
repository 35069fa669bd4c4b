import { mkdir, rm } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { ModelRepository } from '../../core/model/registry';
import { promote } from '../../model-pipeline/registry/registry-ops';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** `mlops models canary | show | promote | rollback` on a folder repository with two versions. */

const tmp = useTempDir();
let repo: string;

beforeAll(async () => {
  repo = tmp.file('repo');
  await mkdir(tmp.file('repo', 'models'), { recursive: true });
  for (const version of ['1.0.0', '1.1.0']) await trainDemoPackage(tmp.file('repo', 'models'), { version, rows: 400, seed: Number(version.split('.')[1]) + 1 });
  await rm(tmp.file('repo', 'models', 'demo-train.csv'));
  await promote(new ModelRepository(new DirectoryStore(repo)), 'demo', '1.0.0', 'first');
}, 120_000);

describe('mlops models canary', { timeout: 60_000 }, () => {
  it('starts a canary at the given weight, which models show prints', async () => {
    const started = await mlopsOk(['models', 'canary', 'demo', '1.1.0', '--weight', '0.2', '--repo', repo]);
    const shown = await mlopsOk(['models', 'show', 'demo', '--repo', repo]);

    expect(started.stdout).toMatch(/^demo: 1\.1\.0 takes 20% of requests as a canary; 1\.0\.0 serves the rest/);
    expect(shown.stdout).toMatch(/canary 1\.1\.0: 20% of requests since \S+/);
    expect(shown.stdout).toMatch(/1\.1\.0 +canary/);
  });

  it('rejects a weight outside (0, 1] in one line naming the option', async () => {
    expect(expectOneLineError(await mlops(['models', 'canary', 'demo', '1.1.0', '--weight', '2', '--repo', repo]))).toMatch(/--weight must be above 0 and at most 1 \(received 2\)/);
  });

  it('rollback aborts the running canary and leaves the serving version', async () => {
    const { stdout } = await mlopsOk(['models', 'rollback', 'demo', '--repo', repo, '--reason', 'looked wrong']);
    const registry = await new ModelRepository(new DirectoryStore(repo)).registryOf('demo');

    expect(stdout).toMatch(/^demo: canary 1\.1\.0 rolled back; 1\.0\.0 serves every request/);
    expect(registry).toMatchObject({ serving: '1.0.0', canary: null });
    expect(registry.versions.find((v) => v.version === '1.1.0')).toMatchObject({ status: 'rejected', note: 'canary rolled back: looked wrong' });
  });
});

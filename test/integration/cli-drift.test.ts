import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { mlops, mlopsOk } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

/** `mlops drift` and `mlops baseline` on a package trained by the CLI. */

const tmp = useTempDir();

beforeAll(async () => {
  await mlopsOk(['generate', '--out', tmp.file('train.csv'), '--rows', '6000', '--seed', '1']);
  await mlopsOk(['generate', '--out', tmp.file('same.csv'), '--rows', '2000', '--seed', '2']);
  await mlopsOk(['generate', '--out', tmp.file('shifted.csv'), '--rows', '2000', '--seed', '3', '--drift', 'mean:tenure_months=0.6']);
  await mlopsOk(['train', '--data', tmp.file('train.csv'), '--label', 'churned', '--out', tmp.file('pkg'), '--name', 'churn', '--epochs', '5']);
});

describe('mlops drift', () => {
  it('exits 0 and says NO DRIFT for data like the training data', async () => {
    const result = await mlops(['drift', tmp.file('pkg'), tmp.file('same.csv')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/NO DRIFT: 0 of 9 features drifted/);
  });

  it('exits 3 and names the shifted feature, writing JSON and HTML reports', async () => {
    const result = await mlops(['drift', tmp.file('pkg'), tmp.file('shifted.csv'), '--json', tmp.file('r.json'), '--html', tmp.file('r.html')]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/DRIFT: 1 of 9 features drifted \(tenure_months\)/);
    expect(JSON.parse(await readFile(tmp.file('r.json'), 'utf8')).dataset.driftedFeatures).toEqual(['tenure_months']);
    expect(await readFile(tmp.file('r.html'), 'utf8')).toContain('Drift report: churn 1.0.0');
  });
});

describe('mlops baseline', () => {
  it('recomputes baseline.json, after which the shifted data is the new normal', async () => {
    await mlopsOk(['baseline', tmp.file('pkg'), tmp.file('shifted.csv')]);
    const result = await mlops(['drift', tmp.file('pkg'), tmp.file('shifted.csv')]);
    expect(result.code).toBe(0);
  });
});

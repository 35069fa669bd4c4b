import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectDriftOnRows } from '../../core/drift/detect';
import { classesOf } from '../../core/model/manifest';
import type { ModelPackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { readCsvTable } from '../../model-pipeline/data/table';
import { baselineOf } from '../../model-pipeline/evaluate/drift-check';
import { scoreAll } from '../../model-pipeline/evaluate/evaluate';
import { encodeTable } from '../../model-pipeline/train/trainer';
import { mlops, mlopsOk } from '../helpers/cli';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** `mlops drift` and `mlops baseline` on a trained churn package (label column "churned", last). */

const tmp = useTempDir();
let pkg: ModelPackage;
let pkgDir: string;

/** A copy of a CSV file with its data lines rewritten. */
async function rewrite(from: string, to: string, line: (text: string, index: number) => string): Promise<void> {
  const [header, ...rows] = (await readFile(from, 'utf8')).trimEnd().split('\n');
  await writeFile(to, `${[header, ...rows.map(line)].join('\n')}\n`);
}

const report = async (file: string) => JSON.parse(await readFile(file, 'utf8'));

beforeAll(async () => {
  pkg = await trainDemoPackage(tmp.path);
  pkgDir = join(tmp.path, 'demo', '1.0.0');
  await writeGeneratedCsv(tmp.file('same.csv'), { rows: 2000, seed: 2 });
  // Past the 5,000-value reservoirs and the CLI's 1 MiB reads: sampled, and lines split across pieces.
  await writeGeneratedCsv(tmp.file('large.csv'), { rows: 30_000, seed: 5 });
  await writeGeneratedCsv(tmp.file('shifted.csv'), { rows: 2000, seed: 3, drift: { meanShift: { tenure_months: 0.6 } } });
  await writeGeneratedCsv(tmp.file('missing.csv'), { rows: 2000, seed: 4, drift: { missing: { age: 0.3 } } });
  // The same rows with every third label flipped: the features do not move, the accuracy drops ~20 points.
  await rewrite(tmp.file('same.csv'), tmp.file('flipped.csv'), (text, i) => (i % 3 ? text : text.replace(/,(yes|no)$/, (_, label) => `,${label === 'yes' ? 'no' : 'yes'}`)));
  // Every id quoted, so no row takes the byte path.
  await rewrite(tmp.file('same.csv'), tmp.file('quoted.csv'), (text) => text.replace(/^([^,]*)/, '"$1"'));
  await writeFile(tmp.file('ten.csv'), (await readFile(tmp.file('same.csv'), 'utf8')).split('\n').slice(0, 11).join('\n'));
});

describe('mlops drift: one verdict, one exit code', () => {
  it('exits 0 with a NO DRIFT banner for data like the training data', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('same.csv')]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^NO DRIFT: /m);
    expect(result.stderr).toBe('');
  });

  it('exits 3 and names the shifted feature, writing JSON and HTML reports', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('shifted.csv'), '--json', tmp.file('shifted.json'), '--html', tmp.file('shifted.html')]);

    // Assess
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toMatch(/^DRIFT: data drift in tenure_months\b/m);
    expect((await report(tmp.file('shifted.json'))).dataset.driftedFeatures).toEqual(['tenure_months']);
    expect(await readFile(tmp.file('shifted.html'), 'utf8')).toContain('Drift report: demo 1.0.0');
  });

  it('exits 3 and names model quality for a 20-point accuracy drop on labels, though no feature moved, in the banner and the HTML', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('flipped.csv'), '--json', tmp.file('flipped.json'), '--html', tmp.file('flipped.html')]);

    // Assess
    expect(result.code, result.stdout).toBe(3);
    const banner = /^DRIFT: model quality degraded \(accuracy \d\.\d+ vs \d\.\d+.*$/m.exec(result.stdout)?.[0];
    expect(banner, result.stdout).toBeDefined();
    expect(await readFile(tmp.file('flipped.html'), 'utf8')).toContain(banner);
    const flipped = await report(tmp.file('flipped.json'));
    expect(flipped.dataset.driftedFeatures).toEqual([]);
    expect(flipped.quality.alarm).toBe(true);
    expect(flipped.sampleSizes.labeledRows).toBe(2000);
  });

  it('exits 3 when a feature goes missing, reading the empty values as missing rather than skipping rows', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('missing.csv'), '--json', tmp.file('missing.json')]);

    // Assess
    expect(result.code, result.stdout).toBe(3);
    expect(result.stdout).toMatch(/^DRIFT: .*missing values rose in age/m);
    expect(result.stderr).toBe('');
    expect((await report(tmp.file('missing.json'))).sampleSizes.currentRows).toBe(2000);
  });

  it('exits 4 with an INSUFFICIENT DATA banner for a 10-row file', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('ten.csv')]);

    // Assess
    expect(result.code, result.stdout).toBe(4);
    expect(result.stdout).toMatch(/^INSUFFICIENT DATA: 10 rows against \d+ baseline rows/m);
  });

  it('exits 4 when --min-rows asks for more rows than the file has', async () => {
    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('same.csv'), '--min-rows', '5000', '--json', tmp.file('min-rows.json')]);

    // Assess
    expect(result.code, result.stdout).toBe(4);
    expect((await report(tmp.file('min-rows.json'))).settings.minSampleSize).toBe(5000);
  });

  it('rejects a --min-rows of 0 with one line on stderr', async () => {
    const result = await mlops(['drift', pkgDir, tmp.file('same.csv'), '--min-rows', '0']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toMatch(/^mlops: .*--min-rows must be at least 1, got 0/);
  });
});

describe('mlops drift: a streamed file', () => {
  it('reports what the whole-table path (read all, encode, score, one window) computed', async () => {
    // Prepare: the former path, in this process
    const table = await readCsvTable(tmp.file('large.csv'));
    const { manifest } = pkg;
    const { set } = encodeTable(table, manifest.input.features, table.header.indexOf(manifest.labelColumn!), manifest.task, classesOf(manifest));
    const predictor = await Predictor.create(pkg);
    const scores = await scoreAll(predictor, set).finally(() => predictor.release());
    const whole = detectDriftOnRows(baselineOf(pkg), set.x, set.rows, { scores, labels: set.y });

    // Act
    await mlops(['drift', pkgDir, tmp.file('large.csv'), '--json', tmp.file('large.json')]);

    // Assess: equal, not merely close: the seeded reservoirs see the same values in the same order
    const streamed = await report(tmp.file('large.json'));
    expect(streamed.sampleSizes.currentRows).toBe(30_000);
    expect(streamed).toEqual(JSON.parse(JSON.stringify(whole)));
  });

  it('gives the same report when every row takes the general (quoted) path instead of the byte path', async () => {
    // Act
    await mlopsOk(['drift', pkgDir, tmp.file('quoted.csv'), '--json', tmp.file('quoted.json')]);
    await mlopsOk(['drift', pkgDir, tmp.file('same.csv'), '--json', tmp.file('plain.json')]);

    // Assess
    expect(await report(tmp.file('quoted.json'))).toEqual(await report(tmp.file('plain.json')));
  });

  it('counts unreadable rows, quotes the first on stderr, and uses the others', async () => {
    // Prepare: line 3 has a word for a number, line 5 a label that is not a class, line 7 too few fields
    const broken = (text: string, i: number) => (i === 1 ? text.replace(/^([^,]*),[^,]*/, '$1,old') : i === 3 ? text.replace(/,(yes|no)$/, ',maybe') : i === 5 ? 'x,1,2' : text);
    await rewrite(tmp.file('same.csv'), tmp.file('broken.csv'), broken);

    // Act
    const result = await mlops(['drift', pkgDir, tmp.file('broken.csv'), '--json', tmp.file('broken.json')]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^skipped 3 unreadable rows, e\.g\. line 3: feature "age" must be a number, got "old"; line 5: label "maybe" is not one of the classes no, yes; line 7: row has 3 fields/);
    expect((await report(tmp.file('broken.json'))).sampleSizes.currentRows).toBe(1997);
  });
});

describe('mlops baseline', () => {
  it('recomputes baseline.json, after which the shifted data is the new normal', async () => {
    await mlopsOk(['baseline', pkgDir, tmp.file('shifted.csv')]);
    const result = await mlops(['drift', pkgDir, tmp.file('shifted.csv')]);
    expect(result.code, result.stdout).toBe(0);
  });
});

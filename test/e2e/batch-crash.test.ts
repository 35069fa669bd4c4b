import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedS3Client } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/**
 * `npm start` killed (SIGKILL: no cleanup) while it scores a file, then started again: the file
 * is scored exactly once, within a minute of the restart — the dead process's lease is taken
 * over at once instead of blocking the file until it expires — and its counts reconcile.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = useTempDir();
let child: ChildProcess | undefined;

async function start(env: Record<string, string>): Promise<void> {
  let output = '';
  child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (output += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (output += t));
  for (let i = 0; i < 900 && !output.includes('Ctrl-C stops the platform'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!output.includes('Ctrl-C stops the platform')) throw new Error(`npm start did not come up:\n${output}`);
}

async function kill(signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child!.kill(signal);
  await exited;
  child = undefined;
}

afterAll(async () => {
  if (child) await kill('SIGINT');
});

const ROWS = 400_000;
const INPUT = 'batch/input/demo/crash.csv';

describe('npm start killed mid-file', { timeout: 300_000 }, () => {
  it('scores the file exactly once within a minute of the restart', async () => {
    const [port, s3Port] = [await freePort(), await freePort()];
    const env = { MLOPS_HOME: tmp.path, MLOPS_PORT: String(port), MLOPS_S3_PORT: String(s3Port), MLOPS_MONITOR_SECONDS: '0' };
    const s3 = createEmbeddedS3Client(`http://127.0.0.1:${s3Port}`);
    const keys = async (Prefix: string) => ((await s3.send(new ListObjectsV2Command({ Bucket: 'mlops-data', Prefix }))).Contents ?? []).map((o) => o.Key!);
    const text = async (Key: string) => (await s3.send(new GetObjectCommand({ Bucket: 'mlops-data', Key }))).Body!.transformToString();
    const csv = `${[generatedHeader().join(','), ...[...generateRows({ rows: ROWS, seed: 21 })].map((r) => r.cells.join(','))].join('\n')}\n`;
    await start(env);

    await s3.send(new PutObjectCommand({ Bucket: 'mlops-data', Key: INPUT, Body: csv }));
    // The lease is claimed just before the first row is read: kill the platform as soon as it appears.
    for (let i = 0; i < 1_000 && !(await keys('batch/staging/')).some((k) => k.includes('lease')); i++) await new Promise((r) => setTimeout(r, 20));
    await kill('SIGKILL');

    const restarted = Date.now();
    await start(env);
    let manifest: Record<string, unknown> | undefined;
    while (!manifest && Date.now() - restarted < 60_000) {
      if ((await keys('batch/manifests/')).length) manifest = JSON.parse(await text('batch/manifests/demo/crash.csv.manifest.json'));
      else await new Promise((r) => setTimeout(r, 200));
    }

    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: ROWS, scored: ROWS, rejected: 0 });
    // Scored by the restarted platform: the killed one did not finish.
    expect(Date.parse(manifest!.startedAt as string)).toBeGreaterThanOrEqual(restarted);
    const lines = (await text('batch/output/demo/crash.csv.predictions.csv')).trimEnd().split('\n');
    expect(lines).toHaveLength(ROWS + 1);
    const numbers = new Set(lines.slice(1).map((line) => line.slice(0, line.indexOf(','))));
    expect(numbers.size).toBe(ROWS);
    s3.destroy();
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { churnInstance } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/** `npm start` as a user runs it, in its own process on free ports, driven only through HTTP and the S3 API. */

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = useTempDir();
let child: ChildProcess | undefined;

async function start(env: Record<string, string>): Promise<{ output: () => string }> {
  let output = '';
  child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (output += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (output += t));
  for (let i = 0; i < 600 && !output.includes('Ctrl-C stops the platform'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!output.includes('Ctrl-C stops the platform')) throw new Error(`npm start did not come up:\n${output}`);
  return { output: () => output };
}

async function stop(): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  child!.kill('SIGINT');
  const code = await exited;
  child = undefined;
  return code;
}

afterAll(async () => {
  if (child) await stop();
});

describe('npm start', { timeout: 180_000 }, () => {
  let env: Record<string, string>;
  let api: string;
  let s3: string;

  it('comes up on the given ports, prints its URLs, and answers a prediction', async () => {
    const [port, s3Port] = [await freePort(), await freePort()];
    env = { MLOPS_HOME: tmp.path, MLOPS_PORT: String(port), MLOPS_S3_PORT: String(s3Port), MLOPS_MONITOR_SECONDS: '0' };
    api = `http://127.0.0.1:${port}`;
    s3 = `http://127.0.0.1:${s3Port}`;
    const { output } = await start(env);
    expect(output()).toContain(`dashboard   ${api}/`);
    expect(output()).toContain(`--endpoint-url ${s3}`);
    const response = await fetch(`${api}/models/demo/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
    expect(response.status).toBe(200);
  });

  it('scores a file put into batch/input/ through the S3 API', async () => {
    const csv = [generatedHeader().join(','), ...[...generateRows({ rows: 100, seed: 8 })].map((r) => r.cells.join(','))].join('\n');
    expect((await fetch(`${s3}/mlops-data/batch/input/demo/e2e.csv`, { method: 'PUT', body: csv })).status).toBe(200);
    let manifest: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !manifest; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const response = await fetch(`${s3}/mlops-data/batch/manifests/demo/e2e.csv.manifest.json`);
      if (response.status === 200) manifest = (await response.json()) as Record<string, unknown>;
    }
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 100, scored: 100, rejected: 0 });
  });

  it('stops cleanly on Ctrl-C and comes back with its models and batch results', async () => {
    expect(await stop()).toBe(0);
    await start(env);
    expect((await fetch(`${api}/v2/models/demo`)).status).toBe(200);
    expect((await fetch(`${s3}/mlops-data/batch/manifests/demo/e2e.csv.manifest.json`)).status).toBe(200);
  });
});

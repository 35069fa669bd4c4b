import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** `npm run demo` as a user runs it: the whole loop, asserted from what it prints. */

const root = fileURLToPath(new URL('../../', import.meta.url));

function runDemo(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/demo.ts'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  it('drives train → serve → batch → drift → retrain → canary → promotion → traffic on the new version', { timeout: 300_000 }, async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(code, stderr).toBe(0);
    const summary = stdout.slice(stdout.lastIndexOf('\nsummary'));
    expect(summary).toMatch(/train +demo 1\.0\.0 serving/);
    expect(summary).toMatch(/serve +1,000 rows predicted by 1\.0\.0/);
    expect(summary).toMatch(/batch +2003 rows in: 2000 scored, 3 rejected/);
    expect(summary).toMatch(/monitor +1000 rows: no drift/);
    expect(summary).toMatch(/drift 1 +DRIFT in tenure_months; confirmed: false/);
    expect(summary).toMatch(/drift 2 +confirmed: true; retraining run drift-demo-/);
    expect(summary).toMatch(/canary +\d+ by 1\.0\.0, \d+ by 1\.1\.0 during the run; canary healthy, 1\.1\.0 promoted: \d+ canary requests/);
    expect(summary).toMatch(/retrain +1\.1\.0 trained \(parent 1\.0\.0\).*gate passed; serving now 1\.1\.0/);
    expect(summary).toMatch(/traffic +new requests answered by 1\.1\.0/);
  });
});

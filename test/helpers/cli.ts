import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** The repository root, for fixtures and the `mlops` entry point. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const entryPoint = fileURLToPath(new URL('../../bin/mlops.js', import.meta.url));

/** What one run of the command line left behind. */
export interface CliResult {
  /** Exit code; -1 when the process was ended by a signal. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Working directory of the process. @default the repository root */
  readonly cwd?: string;
  /** The process is killed after this long. @default 60_000 */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Record<string, string>;
}

/** Runs the real `mlops` command (`node bin/mlops.js …`) as a subprocess and collects its exit code and output. */
export function mlops(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entryPoint, ...args], {
      cwd: options.cwd ?? repoRoot,
      // Pipes, not a terminal: progress bars stay off and stderr holds only what the command reports.
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env },
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `mlops` and throws with its stderr unless it exits 0: for setup steps whose failure is not the behaviour under test. */
export async function mlopsOk(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await mlops(args, options);
  if (result.code !== 0) throw new Error(`mlops ${args.join(' ')} exited ${result.code}: ${result.stderr || result.stdout}`);
  return result;
}

/** Runs `mlops … --json` and parses its stdout. */
export async function mlopsJson<T>(args: readonly string[], options: CliOptions = {}): Promise<T> {
  const { stdout } = await mlopsOk([...args, '--json'], options);
  return JSON.parse(stdout) as T;
}

/**
 * Asserts the command failed the way the design promises (a non-zero exit and exactly one
 * line on stderr, starting with "mlops: ") and returns that line.
 */
export function expectOneLineError(result: CliResult): string {
  expect(result.code, `stdout: ${result.stdout}`).not.toBe(0);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, `stderr was:\n${result.stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^mlops: \S/);
  return lines[0]!;
}

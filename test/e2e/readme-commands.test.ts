import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli';
import { churnInstance } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/**
 * The README's `mlops` blocks (between `<!-- readme-cli:start NAME -->` and `<!-- readme-cli:end -->`),
 * run as a newcomer pastes them: top to bottom in bash, in an empty folder, the platform block
 * against a real `npm start`. The folder holds only what `npm ci` and the repository give a
 * newcomer: `node_modules/.bin/mlops` (how `npx mlops` finds the command) and the shipped fixtures
 * under test/fixtures/external; every other file must be made by the blocks themselves.
 * The one change to the text: `serve --port 8081` gets a free port.
 */

const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');

/** The commands of one README block, continuation lines joined, blank and comment lines dropped. */
function readmeBlock(name: string): string[] {
  const match = new RegExp(`<!-- readme-cli:start ${name} -->\\s*\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\s*<!-- readme-cli:end -->`).exec(readme);
  if (!match) throw new Error(`README.md has no \`\`\`bash block between <!-- readme-cli:start ${name} --> and <!-- readme-cli:end -->`);
  return match[1]!
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** A command without its trailing comment. */
const code = (command: string) => command.replace(/\s+#.*$/, '').trim();

/** The `mlops` subcommand a line runs, if it runs one. */
const subcommand = (command: string) => /^npx mlops (\S+)/.exec(code(command))?.[1];

/** Paths a command writes (`--out`, `--html`). */
const outputs = (command: string) => [...code(command).matchAll(/--(?:out|html) (\S+)/g)].map((m) => m[1]!);

/** Relative file and package paths a command names (data files, models, package folders). */
const pathsNamed = (command: string) => code(command).split(/\s+/).filter((token) => /^(pkg\/[\w.-]+|[\w./-]+\.(csv|onnx|html|json))$/.test(token));

/**
 * Exit codes other than 0 that a README line documents: a gate verdict that depends on this
 * machine's int8 speed-up, the drift verdict on data generated with drift, and Ctrl-C.
 */
const EXPECTED_EXITS: Record<string, { codes: readonly number[]; documented?: RegExp }> = {
  quantize: { codes: [0, 3], documented: /exit 3 if it fails/ },
  drift: { codes: [3], documented: /3 drift/ },
  serve: { codes: [0, 130] },
};

const tmp = useTempDir('mlops-readme-');
let work: string;
let bin: string;
const running = new Set<ChildProcess>();

/** A newcomer's shell: no AWS or npm settings of this process, the folder's node_modules/.bin on PATH. */
function shellEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(AWS_|MLOPS_|npm_)/i.test(key) || key === 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'));
  return {
    ...env,
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
    // Were the shim not found, npx must fail rather than fetch some other `mlops` from the registry.
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

interface BlockRun {
  /** Exit code of each command, in order. */
  readonly exits: number[];
  output(): string;
  /** Resolves when bash has run the whole block. */
  readonly done: Promise<void>;
  /** Ctrl-C, as a terminal sends it: SIGINT to every process of the block. */
  interrupt(): void;
}

/** Runs commands as one bash script in `work`, recording each command's exit code. */
async function runBlock(name: string, commands: readonly string[], env: NodeJS.ProcessEnv): Promise<BlockRun> {
  const statusFile = join(tmp.path, `${name}.exits`);
  const script = commands.map((command) => `${command}\nprintf '%s\\n' $? >> '${statusFile}'\n`).join('');
  const scriptFile = join(tmp.path, `${name}.sh`);
  await writeFile(scriptFile, script);
  const exits: number[] = [];
  let output = '';
  // Its own process group, so that an interrupt reaches bash, npx and the command, as Ctrl-C does.
  const child = spawn('bash', [scriptFile], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', async (_code, signal) => {
      running.delete(child);
      const text = existsSync(statusFile) ? await readFile(statusFile, 'utf8') : '';
      exits.push(...text.split('\n').filter(Boolean).map(Number));
      // Bash may end on the Ctrl-C too (as the shell's job would): the command it ran gets the shell's 128 + SIGINT.
      if (signal === 'SIGINT' && exits.length < commands.length) exits.push(130);
      resolve();
    });
  });
  return { exits, output: () => output, done, interrupt: () => process.kill(-child.pid!, 'SIGINT') };
}

/** Asserts each command exited 0, or with the non-zero code its README line documents. */
function expectDocumentedExits(commands: readonly string[], run: BlockRun): void {
  expect(run.exits, run.output()).toHaveLength(commands.length);
  commands.forEach((command, i) => {
    const expected = EXPECTED_EXITS[subcommand(command) ?? '']?.codes ?? [0];
    expect(expected, `exit ${run.exits[i]} of: ${command}\n--- output ---\n${run.output()}`).toContain(run.exits[i]);
  });
}

async function waitFor(condition: () => boolean, what: string, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const local = readmeBlock('local');
const platform = readmeBlock('platform');

beforeAll(async () => {
  work = tmp.file('work');
  bin = join(work, 'node_modules', '.bin');
  await mkdir(bin, { recursive: true });
  await symlink(join(repoRoot, 'bin', 'mlops.js'), join(bin, 'mlops'));
  await cp(join(repoRoot, 'test/fixtures/external'), join(work, 'test/fixtures/external'), { recursive: true });
});

afterAll(() => {
  for (const child of running) process.kill(-child.pid!, 'SIGKILL');
});

describe('the README blocks as text', () => {
  it('make every file and package before a command uses it (or take it from test/fixtures/)', () => {
    // Prepare
    const made = new Set<string>();
    const missing: string[] = [];

    // Act
    for (const command of [...local, ...platform]) {
      const written = outputs(command);
      for (const path of pathsNamed(command)) {
        if (!written.includes(path) && !made.has(path) && !path.startsWith('test/fixtures/')) missing.push(`${path} (in: ${code(command)})`);
      }
      written.forEach((path) => made.add(path));
    }

    // Assess
    expect(missing).toEqual([]);
  });

  it('document every non-zero exit the test accepts', () => {
    for (const command of [...local, ...platform]) {
      const documented = EXPECTED_EXITS[subcommand(command) ?? '']?.documented;
      if (documented) expect(command).toMatch(documented);
    }
  });

  it('point the platform block at the embedded S3 with a region, an endpoint and its credentials', () => {
    expect(platform[0]).toMatch(/^export /);
    for (const setting of [/\bAWS_REGION=\S+/, /\bAWS_ENDPOINT_URL_S3=http:\/\/127\.0\.0\.1:\$\{MLOPS_S3_PORT:-4569\}/, /\bAWS_ACCESS_KEY_ID=S3RVER\b/, /\bAWS_SECRET_ACCESS_KEY=S3RVER\b/]) {
      expect(platform[0]).toMatch(setting);
    }
  });
});

describe('the README blocks pasted into bash', { timeout: 180_000 }, () => {
  let platformProcess: ChildProcess | undefined;
  let s3Port: number;

  afterAll(async () => {
    if (!platformProcess || platformProcess.exitCode !== null) return;
    const exited = new Promise((resolve) => platformProcess!.once('exit', resolve));
    platformProcess.kill('SIGINT');
    await exited;
  });

  it('local files: every command exits 0 (or as documented), writes what it names, and the last one serves until Ctrl-C', async () => {
    // Prepare
    const port = await freePort();
    const commands = local.map((command) => (subcommand(command) === 'serve' ? command.replace(/--port \d+/, `--port ${port}`) : command));

    // Act
    const run = await runBlock('local', commands, shellEnvironment());
    let closed = false;
    void run.done.then(() => (closed = true));
    await waitFor(() => closed || /serving churn 1\.0\.0[\s\S]*serving theirs 1\.0\.0|serving theirs 1\.0\.0[\s\S]*serving churn 1\.0\.0/.test(run.output()), 'mlops serve', run.output, 120_000);
    expect(closed, run.output()).toBe(false);
    const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`);
    const prediction = await fetch(`http://127.0.0.1:${port}/models/churn/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
    run.interrupt();
    await run.done;

    // Assess
    expect(ready.status).toBe(200);
    expect(prediction.status).toBe(200);
    expectDocumentedExits(commands, run);
    for (const path of commands.flatMap(outputs)) expect(existsSync(join(work, path)), `${path} was not written`).toBe(true);
    for (const file of ['scored.csv.errors.jsonl', 'scored.csv.manifest.json', 'pkg/churn/model.int8.onnx', 'pkg/churn/quantization.json', 'pkg/churn/baseline.json', 'pkg/theirs/manifest.json']) {
      expect(existsSync(join(work, file)), `${file} was not written`).toBe(true);
    }
  });

  it('platform: against a running npm start, every command exits 0 and retraining promotes 1.1.0', async () => {
    // Prepare
    s3Port = await freePort();
    const env = { MLOPS_HOME: tmp.file('home'), MLOPS_PORT: String(await freePort()), MLOPS_S3_PORT: String(s3Port), MLOPS_MONITOR_SECONDS: '0' };
    let started = '';
    platformProcess = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    platformProcess.stdout!.setEncoding('utf8').on('data', (t: string) => (started += t));
    platformProcess.stderr!.setEncoding('utf8').on('data', (t: string) => (started += t));
    await waitFor(() => started.includes('Ctrl-C stops the platform'), 'npm start', () => started);

    // Act
    const run = await runBlock('platform', platform, shellEnvironment({ MLOPS_S3_PORT: String(s3Port) }));
    await run.done;

    // Assess
    expectDocumentedExits(platform, run);
    expect(run.output()).toMatch(/run \S+: promoted \(candidate 1\.1\.0\)/);
    expect(run.output()).toMatch(/demo: serving 1\.1\.0, rollback to 1\.0\.0/);
    expect(existsSync(join(work, 'labels.csv'))).toBe(true);
  });

  it('the CLI reaches the embedded S3 without AWS_REGION: a loopback endpoint signs for us-east-1', async () => {
    // Prepare
    const commands = ['npx mlops models show demo --repo s3://mlops-models'];
    const env = shellEnvironment({ AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });

    // Act
    const run = await runBlock('no-region', commands, env);
    await run.done;

    // Assess
    expect(env.AWS_REGION).toBeUndefined();
    expect(run.output()).not.toContain('Region is missing');
    expect(run.exits, run.output()).toEqual([0]);
    expect(run.output()).toMatch(/^demo: serving 1\.1\.0/m);
  });
});

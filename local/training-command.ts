import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BlobStore } from '../core/model/blob-store';
import { TrainingContract, type TrainingJobRunner, type TrainingJobSpec } from '../core/training-contract';
import { tarArchive } from '../model-pipeline/triton/tar';

/** A training command standing in for a training image on one machine. */
export interface TrainingCommand {
  /** Program and arguments, e.g. `['npx', 'tsx', 'train.ts']`; `train` is appended, as SageMaker does when it runs an image. */
  readonly command: readonly string[];
  /** Where each job gets its `/opt/ml`-style folder (`<workDir>/<job>/opt/ml`). */
  readonly workDir: string;
  /** The job is killed after this long, as SageMaker's MaxRuntimeInSeconds stops a job. @default 60 */
  readonly maxRuntimeMinutes?: number;
  readonly log?: (line: string) => void;
}

/**
 * Runs training jobs of the contract (model-pipeline/pipeline/training-contract.ts) as a child process:
 * the channels and hyperparameters are laid out as SageMaker lays them out under `/opt/ml`, in a
 * folder of the job's own, with the `SM_*` variables pointing there; afterwards the model folder
 * is tarred to `model.tar.gz` at the job's artifact key, as SageMaker uploads it. A non-zero exit
 * fails the job with the reason the command left in `output/failure`, or the end of its stderr.
 */
export function commandTrainingJob(data: BlobStore, options: TrainingCommand): TrainingJobRunner {
  const [program, ...args] = options.command;
  if (!program) throw new Error('the training command is empty; give a program to run');
  return async (spec: TrainingJobSpec) => {
    const root = join(options.workDir, spec.name, 'opt', 'ml');
    await rm(root, { recursive: true, force: true });
    const dirs = {
      config: join(root, 'input', 'config'),
      train: join(root, 'input', 'data', 'train'),
      holdout: join(root, 'input', 'data', 'holdout'),
      model: join(root, 'model'),
      output: join(root, 'output'),
    };
    for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
    for (const channel of TrainingContract.channels) {
      await writeFile(join(dirs[channel], TrainingContract.channelFile(channel)), await data.read(spec.channels[channel]));
    }
    const hyperparameters = JSON.stringify(spec.hyperparameters, null, 2);
    await writeFile(join(dirs.config, 'hyperparameters.json'), hyperparameters);
    await writeFile(join(dirs.config, 'inputdataconfig.json'), JSON.stringify(Object.fromEntries(TrainingContract.channels.map((c) => [c, { ContentType: 'text/csv' }]))));
    const env = {
      ...process.env,
      SM_TRAINING_JOB_NAME: spec.name,
      SM_CHANNELS: JSON.stringify(TrainingContract.channels),
      SM_CHANNEL_TRAIN: dirs.train,
      SM_CHANNEL_HOLDOUT: dirs.holdout,
      SM_INPUT_CONFIG_DIR: dirs.config,
      SM_MODEL_DIR: dirs.model,
      SM_OUTPUT_DATA_DIR: dirs.output,
      SM_HPS: JSON.stringify(spec.hyperparameters),
    };
    options.log?.(`training job ${spec.name}: ${[program, ...args, 'train'].join(' ')}`);
    const { code, signal, stderr } = await run(program, [...args, 'train'], env, (options.maxRuntimeMinutes ?? 60) * 60_000, options.log);
    if (code !== 0) {
      const failure = await readFile(join(dirs.output, 'failure'), 'utf8').catch(() => '');
      const reason = failure.trim() || stderr.trim().split('\n').slice(-5).join('\n') || 'no reason given';
      throw new Error(`training job ${spec.name} failed (${code === null ? `killed by ${signal}, at the latest after its maximum runtime` : `exit code ${code}`}): ${reason}`);
    }
    const entries = [];
    for (const file of await readdir(dirs.model, { recursive: true, withFileTypes: true })) {
      if (!file.isFile()) continue;
      const path = join(file.parentPath, file.name);
      entries.push({ name: relative(dirs.model, path).split('\\').join('/'), body: new Uint8Array(await readFile(path)) });
    }
    await data.write(spec.artifactKey, gzipSync(tarArchive(entries)));
  };
}

/** Runs a process, forwarding its output lines to the log; killed (a null code) at the deadline. */
function run(program: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, log?: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => text.split('\n').filter(Boolean).forEach((line) => log?.(`  ${line}`)));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      // The end is what explains a failure; keep the last 16 kB.
      stderr = (stderr + text).slice(-16_384);
    });
    child.on('error', (error) => reject(new Error(`cannot run the training command ${program}: ${error.message}`)));
    child.on('close', (code, signal) => resolve({ code: signal ? null : code, signal, stderr }));
  });
}

import { Command } from 'commander';
import { registerDrift } from './commands/drift';
import { registerEvaluate } from './commands/evaluate';
import { registerGenerate } from './commands/generate';
import { registerImport } from './commands/import';
import { registerInspect } from './commands/inspect';
import { registerModels } from './commands/models';
import { registerQuantize } from './commands/quantize';
import { registerRetrain } from './commands/retrain';
import { registerScore } from './commands/score';
import { registerServe } from './commands/serve';
import { registerTrain } from './commands/train';
import { registerTriton } from './commands/triton';

/** The `mlops` command: parses arguments and prints results; the work happens in core/, model-pipeline/ and local/. */
export function buildProgram(): Command {
  const program = new Command('mlops')
    .description('Train, import, inspect, evaluate and score ONNX model packages.')
    // Usage errors are one line, the hint included: commander's showHelpAfterError would add a second.
    .configureOutput({ outputError: (text, write) => write(`mlops: ${text.replace(/^error: /, '').trimEnd()} (run with --help for usage)\n`) });

  registerGenerate(program);
  registerTrain(program);
  registerImport(program);
  registerInspect(program);
  registerEvaluate(program);
  registerQuantize(program);
  registerScore(program);
  registerServe(program);
  registerModels(program);
  registerRetrain(program);
  registerDrift(program);
  registerTriton(program);

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    process.stderr.write(`mlops: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

await main();

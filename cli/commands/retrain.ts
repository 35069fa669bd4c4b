import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ModelRepository } from '../../core/model/registry';
import { localPipelineContext } from '../../local/pipeline';
import { runPipeline } from '../../model-pipeline/pipeline/runner';
import { decimal, integer, packageStore } from '../args';
import { table } from '../format';

/** `mlops retrain`: one retraining run, step by step, as the pipeline runs it. */
export function registerRetrain(program: Command): void {
  program
    .command('retrain')
    .description('Run the retraining pipeline for a model: prepare → train → evaluate → quantize → gate → register → deploy → notify.')
    .argument('<model>')
    .requiredOption('--repo <location>', 'model repository (folder or s3://<model-bucket>)')
    .requiredOption('--data <location>', 'data bucket (folder or s3://<data-bucket>) with labels/<model>/ and datasets/')
    .option('--run-id <id>', 'run id; running the same id again resumes or returns that run', `manual-${new Date().toISOString().replace(/[:.]/g, '-')}`)
    .option('--reason <text>', 'why the run was started', 'started by hand')
    .option('--max-drop <points>', 'largest accuracy drop vs the serving model that still passes', decimal('--max-drop'), 0.5)
    .option('--epochs <n>', 'maximum training epochs', integer('--epochs'), 40)
    .option('--no-quantize', 'skip int8 quantization')
    .option('--manual-approval', 'stop at approval; promote with `mlops models promote`')
    .action(async (model: string, o) => {
      const ctx = localPipelineContext(new ModelRepository(packageStore(o.repo)), packageStore(o.data), join(tmpdir(), 'mlops-pipeline'), (line) => console.error(line), {
        maxDropPoints: o.maxDrop,
        epochs: o.epochs,
        quantize: o.quantize,
        autoApprove: !o.manualApproval,
      });
      const state = await runPipeline(ctx, { model, runId: o.runId, trigger: { kind: 'manual', reason: o.reason } });
      console.log(table([['step', 'status', 'summary'], ...Object.entries(state.steps).map(([name, s]) => [name, s!.status, s!.summary])]));
      console.log(`run ${state.runId}: ${state.outcome}${state.candidateVersion ? ` (candidate ${state.candidateVersion})` : ''}`);
      if (state.outcome === 'failed') process.exitCode = 1;
    });
}

import { type Command, Option } from 'commander';
import { parseDriftSpec, writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { progress } from '../progress';
import { collect, decimal, integer } from '../args';

/** `mlops generate`. */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('Write synthetic customer data with a known ground truth and optional drift.')
    .requiredOption('--out <file>', 'CSV file to write')
    .option('--rows <n>', 'number of rows', integer('--rows'), 10_000)
    .option('--seed <n>', 'random seed', integer('--seed'), 1)
    .addOption(new Option('--task <task>', 'label kind').choices(['binary', 'multiclass']).default('binary'))
    .option('--noise <t>', 'label noise (temperature of the true logits; lower is more separable)', decimal('--noise'), 1)
    .option('--drift <term>', 'drift knob, repeatable: mean:age=0.5, scale:income=2, category:plan=pro+0.1, missing:age=0.1, concept=0.5, label-shift=0.8', collect, [])
    .action(async (o) => {
      const bar = progress('generate', o.rows);
      await writeGeneratedCsv(o.out, { rows: o.rows, seed: o.seed, task: o.task, noise: o.noise, drift: parseDriftSpec(o.drift) }, (n) => bar.update(n));
      bar.stop();
      console.log(`wrote ${o.rows} rows to ${o.out}`);
    });
}

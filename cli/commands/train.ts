import { type Command, Option } from 'commander';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { table } from '../format';
import { progress } from '../progress';
import { collect, integer, list, nameFromPath, packageStore, parseRanges } from '../args';

/** `mlops train`. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Train a classifier or regressor on a CSV file and write a complete model package.')
    .requiredOption('--data <file>', 'training CSV with a header row')
    .requiredOption('--label <column>', 'ground-truth column')
    .requiredOption('--out <dir>', 'package folder to write')
    .option('--name <name>', 'model name (default: the folder name)')
    .option('--version <semver>', 'package version', '1.0.0')
    .addOption(new Option('--model <kind>', 'model family').choices(['logreg', 'mlp']).default('mlp'))
    .option('--hidden <sizes>', 'MLP hidden layer sizes, e.g. 64,32', (v) => list(v).map(integer('--hidden')), [32])
    .option('--epochs <n>', 'maximum epochs', integer('--epochs'), 60)
    .option('--seed <n>', 'random seed', integer('--seed'), 1)
    .option('--ignore <columns>', 'columns to pass through instead of using as features', list, [])
    .option('--range <feature=min:max>', 'accepted range of a numeric feature, repeatable', collect, [])
    .action(async (o) => {
      const bar = progress('train', o.epochs, 'epochs');
      const { pkg, model } = await trainPackage(packageStore(o.out), {
        data: o.data,
        label: o.label,
        name: o.name ?? nameFromPath(o.out),
        version: o.version,
        model: o.model,
        hidden: o.hidden,
        epochs: o.epochs,
        seed: o.seed,
        ignore: o.ignore,
        ranges: parseRanges(o.range),
        onEpoch: (epoch) => bar.update(epoch),
      });
      bar.stop();
      if (model.skipped.count) console.error(`skipped ${model.skipped.count} unusable rows, e.g. ${model.skipped.examples[0]}`);
      console.log(`trained ${pkg.manifest.name} ${pkg.manifest.version} (${pkg.manifest.task}, ${o.model}) in ${model.epochsRun} epochs → ${pkg.location}`);
      console.log(table([['metric', 'validation'], ...Object.entries(pkg.manifest.metrics)]));
    });
}

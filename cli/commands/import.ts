import type { Command } from 'commander';
import { importModel } from '../../model-pipeline/import/import-model';
import { table } from '../format';
import { list, nameFromPath, packageStore } from '../args';

/** `mlops import`. */
export function registerImport(program: Command): void {
  program
    .command('import')
    .description('Make a package from an ONNX model exported by another tool and a CSV sample.')
    .argument('<model>', 'ONNX file (one 2-D float input; scores as a float tensor)')
    .requiredOption('--data <file>', 'CSV sample whose feature columns are in the model\'s input order')
    .requiredOption('--out <dir>', 'package folder to write')
    .option('--name <name>', 'model name (default: the folder name)')
    .option('--version <semver>', 'package version', '1.0.0')
    .option('--label <column>', 'ground-truth column of the sample (adds metrics)')
    .option('--classes <labels>', 'class labels in the order of the model\'s score columns', list)
    .option('--features <columns>', 'feature columns in the model\'s input order', list)
    .option('--ignore <columns>', 'columns to pass through', list, [])
    .action(async (model, o) => {
      const pkg = await importModel(packageStore(o.out), {
        model,
        data: o.data,
        name: o.name ?? nameFromPath(o.out),
        version: o.version,
        label: o.label,
        classes: o.classes,
        features: o.features,
        ignore: o.ignore,
      });
      const m = pkg.manifest;
      console.log(`imported ${model} as ${m.name} ${m.version} (${m.task}, ${m.input.features.length} features, scores "${m.output.tensor}" as ${m.output.kind}) → ${pkg.location}`);
      if (Object.keys(m.metrics).length) console.log(table([['metric', 'sample'], ...Object.entries(m.metrics)]));
    });
}

import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { classesOf } from '../../core/model/manifest';
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
    .option('--name <name>', 'model name (default: the folder name, or the folder above it when the folder is a version such as 1.0.0)')
    .option('--version <semver>', 'package version (default: the folder\'s name when it is a version such as 2.0.0, else 1.0.0)')
    .option('--label <column>', 'ground-truth column of the sample (adds metrics)')
    .option('--classes <labels>', 'class labels in the order of the model\'s score columns (default: the labels the model carries)', list)
    .option('--features <columns>', 'feature columns in the model\'s input order', list)
    .option('--ignore <columns>', 'columns to pass through', list, [])
    .action(async (model, o) => {
      const pkg = await importModel(packageStore(o.out), {
        model,
        data: o.data,
        name: o.name ?? defaultModelName(o.out),
        version: o.version ?? defaultVersion(o.out),
        label: o.label,
        classes: o.classes,
        features: o.features,
        ignore: o.ignore,
        onWarning: (message) => process.stderr.write(`mlops: warning: ${message}\n`),
      });
      const m = pkg.manifest;
      console.log(`imported ${model} as ${m.name} ${m.version} (${m.task}, ${m.input.features.length} features, scores "${m.output.tensor}" as ${m.output.kind}) → ${pkg.location}`);
      if (!o.name) console.log(`name "${m.name}" taken from the folder ${o.out} (--name sets another)`);
      if (m.output.kind !== 'value') console.log(`classes: ${classesOf(m).join(', ')}${m.provenance.classesFrom ? ` (from the model's ${String(m.provenance.classesFrom)})` : ''}`);
      if (Object.keys(m.metrics).length) console.log(table([['metric', 'sample'], ...Object.entries(m.metrics)]));
    });
}

/** A version-like folder name: 1.0.0, v2.1, 1.0.0-rc.1. */
const versionFolder = /^v?\d+(\.\d+){1,2}([-+][0-9A-Za-z.-]+)?$/;
/** A folder name that is a full semantic version, usable as the package version as it is. */
const semverFolder = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/;

/** The package version from its folder (…/byo/2.0.0 → 2.0.0), else 1.0.0. */
function defaultVersion(out: string): string {
  const folder = basename(resolve(out));
  return semverFolder.test(folder) ? folder : '1.0.0';
}

/** The model's name from its package folder: the folder's own name, or its parent's when the folder is a version (…/byo/1.0.0 → byo). */
function defaultModelName(out: string): string {
  const folder = resolve(out);
  return versionFolder.test(basename(folder)) ? nameFromPath(dirname(folder)) : nameFromPath(folder);
}

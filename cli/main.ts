import { basename, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BaselineSchema } from '../core/drift/baseline';
import { DirectoryStore } from '../core/model/blob-store';
import { classesOf, type Feature, PackageFiles } from '../core/model/manifest';
import { loadPackage, packageJson } from '../core/model/model-package';
import { Predictor } from '../core/model/predictor';
import { parseDriftSpec, writeGeneratedCsv } from '../model-pipeline/data/generate';
import { readCsvTable } from '../model-pipeline/data/table';
import { evaluateTable } from '../model-pipeline/evaluate/evaluate';
import { importModel } from '../model-pipeline/import/import-model';
import { trainPackage } from '../model-pipeline/train/train-package';
import { scoreFile, scoreOutputPaths } from '../local/batch/score-file';
import { startApiServer } from '../local/api-server';
import { InferenceEngine } from '../core/model/engine';
import { StaticModelSource } from '../core/model/registry';
import { DEFAULT_LIMITS } from '../core/protocol/limits';
import { formatBytes, formatNumber, table } from './format';
import { progress } from './progress';

/** The `mlops` command: parses arguments and prints results; the work happens in core/, model-pipeline/ and local/. */

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
};
const decimal = (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
  return n;
};
const list = (value: string) => value.split(',').map((v) => v.trim()).filter(Boolean);
const collect = (value: string, previous: string[] = []) => [...previous, value];

function nameFromPath(path: string): string {
  return basename(resolve(path)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

function parseRanges(terms: readonly string[]): Record<string, { min?: number; max?: number }> {
  const ranges: Record<string, { min?: number; max?: number }> = {};
  for (const term of terms) {
    const match = /^([^=]+)=(-?[\d.eE+-]*):(-?[\d.eE+-]*)$/.exec(term);
    if (!match) throw new InvalidArgumentError(`--range expects feature=min:max (either side may be empty), got "${term}"`);
    const [, name, min, max] = match as unknown as [string, string, string, string];
    ranges[name] = { ...(min ? { min: Number(min) } : {}), ...(max ? { max: Number(max) } : {}) };
  }
  return ranges;
}

async function openPackage(location: string) {
  return loadPackage(new DirectoryStore(resolve(location)));
}

export function buildProgram(): Command {
  const program = new Command('mlops')
    .description('Train, import, inspect, evaluate and score ONNX model packages.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(`mlops: ${text.replace(/^error: /, '')}`) });

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
      const { pkg, model } = await trainPackage(new DirectoryStore(resolve(o.out)), {
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
      const pkg = await importModel(new DirectoryStore(resolve(o.out)), {
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

  program
    .command('inspect')
    .description('Show a package: manifest, metrics, files and baseline summary (verifies every file hash).')
    .argument('<package>', 'package folder')
    .option('--json', 'print the manifest as JSON')
    .action(async (location, o) => {
      const pkg = await openPackage(location);
      const m = pkg.manifest;
      if (o.json) {
        console.log(JSON.stringify(m, null, 2));
        return;
      }
      console.log(`${m.name} ${m.version}  ${m.task}  created ${m.createdAt}${m.parentVersion ? `  parent ${m.parentVersion}` : ''}`);
      console.log(`input "${m.input.tensor}" [batch, ${m.input.features.length}]  →  output "${m.output.tensor}" (${m.output.kind})${classesOf(m).length ? `  classes: ${classesOf(m).join(', ')}` : ''}`);
      if (m.trainingData) console.log(`training data: ${m.trainingData.source ?? '?'} (${m.trainingData.rows} rows, sha256 ${m.trainingData.fingerprint.slice(0, 12)}…)`);
      console.log('\nfeatures');
      console.log(table([['name', 'type', 'accepts'], ...m.input.features.map((f) => [f.name, f.type, describeFeature(f)])]));
      if (Object.keys(m.metrics).length) console.log(`\n${table([['metric', 'value'], ...Object.entries(m.metrics)])}`);
      console.log(`\n${table([['file', 'size', 'sha256'], ...Object.entries(m.files).map(([name, f]) => [name, formatBytes(f.bytes), `${f.sha256.slice(0, 16)}…`])])}`);
      const baseline = packageJson<unknown>(pkg, PackageFiles.baseline);
      if (baseline) {
        const b = BaselineSchema.parse(baseline);
        console.log(`\nbaseline: ${b.rows} rows, ${b.features.length} feature profiles${b.prediction ? ', prediction profile' : ''}`);
      }
      if (!pkg.files.has(PackageFiles.int8Model)) console.log('quantization: none (model.int8.onnx not present)');
    });

  program
    .command('evaluate')
    .description('Evaluate a package on a labelled CSV file (columns in any order).')
    .argument('<package>', 'package folder')
    .requiredOption('--data <file>', 'labelled CSV')
    .option('--label <column>', 'ground-truth column (default: the manifest\'s)')
    .option('--json', 'print the report as JSON')
    .action(async (location, o) => {
      const pkg = await openPackage(location);
      const label = o.label ?? pkg.manifest.labelColumn;
      if (!label) throw new InvalidArgumentError('--label is required: the manifest names no label column');
      const predictor = await Predictor.create(pkg);
      try {
        const evaluation = await evaluateTable(predictor, await readCsvTable(o.data), label, { latency: true });
        if (o.json) {
          console.log(JSON.stringify(evaluation, null, 2));
          return;
        }
        const { confusion, ...quality } = evaluation.quality as typeof evaluation.quality & { confusion?: number[][] };
        console.log(table([['metric', 'value'], ...Object.entries(quality).map(([k, v]) => [k, v as number])]));
        if (confusion) {
          const classes = classesOf(pkg.manifest);
          console.log(`\nconfusion (rows: actual, columns: predicted)\n${table([['', ...classes], ...confusion.map((r, i) => [classes[i]!, ...r])])}`);
        }
        if (evaluation.latency) {
          console.log(`\nlatency: ${formatNumber(evaluation.latency.batch1P50Ms)} ms p50 at batch 1, ${formatNumber(evaluation.latency.rowsPerSecondAt1024)} rows/s at batch 1024`);
        }
        if (evaluation.skipped.count) console.error(`skipped ${evaluation.skipped.count} rows, e.g. ${evaluation.skipped.examples[0]}`);
      } finally {
        await predictor.release();
      }
    });

  program
    .command('score')
    .description('Score a CSV file: predictions, an errors file with every rejected row, and a manifest whose counts reconcile.')
    .argument('<package>', 'package folder')
    .argument('<input>', 'CSV file with a header row (.csv or .csv.gz)')
    .requiredOption('--out <file>', 'predictions CSV; <out>.errors.jsonl and <out>.manifest.json are written beside it')
    .option('--chunk <rows>', 'rows per model call', integer('--chunk'), 1024)
    .action(async (location, input, o) => {
      const predictor = await Predictor.create(await openPackage(location));
      const bar = progress('score', 100, '%');
      try {
        const manifest = await scoreFile(predictor, input, o.out, {
          chunkRows: o.chunk,
          onProgress: (_, read, total) => bar.update(Math.round((100 * read) / Math.max(total, 1))),
        });
        bar.stop();
        if (manifest.status === 'failed') throw new Error(`${input}: ${manifest.error}`);
        const paths = scoreOutputPaths(o.out);
        console.log(`${manifest.rowsIn} rows: ${manifest.scored} scored → ${paths.predictions}, ${manifest.rejected} rejected → ${paths.errors} (${manifest.durationMs} ms)`);
      } finally {
        bar.stop();
        await predictor.release();
      }
    });

  program
    .command('serve')
    .description('Serve packages over the inference API (Open Inference Protocol v2 and /models/{name}/predict) on localhost.')
    .argument('<packages...>', 'package folders; the newest version of each name serves by default')
    .option('--port <n>', 'port (0 picks a free one)', integer('--port'), 8080)
    .option('--max-batch <rows>', 'most rows per request', integer('--max-batch'), DEFAULT_LIMITS.maxBatchRows)
    .action(async (locations: string[], o) => {
      const packages = await Promise.all(locations.map(openPackage));
      const engine = new InferenceEngine(new StaticModelSource(packages));
      const api = await startApiServer(
        { engine, limits: { ...DEFAULT_LIMITS, maxBatchRows: o.maxBatch }, requiredModels: packages.map((p) => p.manifest.name), onError: (error) => console.error(`mlops: ${(error as Error).stack}`) },
        { port: o.port },
      );
      for (const p of packages) console.log(`serving ${p.manifest.name} ${p.manifest.version}: POST ${api.url}/v2/models/${p.manifest.name}/infer | ${api.url}/models/${p.manifest.name}/predict`);
      const stop = async () => {
        await api.close();
        await engine.release();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });

  return program;
}

function describeFeature(f: Feature): string {
  const missing = f.nullable ? ', or missing' : '';
  if (f.type === 'categorical') return `${f.levels.length} levels: ${f.levels.slice(0, 6).join(', ')}${f.levels.length > 6 ? ', …' : ''}${missing}`;
  const range = f.min !== undefined || f.max !== undefined ? ` in [${f.min ?? '-∞'}, ${f.max ?? '∞'}]` : '';
  return `number${range}${missing}`;
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

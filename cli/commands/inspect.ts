import type { Command } from 'commander';
import { BaselineSchema } from '../../core/drift/baseline';
import { classesOf, type Feature, PackageFiles } from '../../core/model/manifest';
import { packageJson } from '../../core/model/model-package';
import { formatBytes, table } from '../format';
import { openPackage } from '../args';

/** `mlops inspect`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Show a package: manifest, metrics, files and baseline summary (verifies every file hash; refuses links, devices and oversized files).')
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
      // The digest a registry records when the version is registered, to compare with registry.json.
      if (pkg.digest) console.log(`package digest: ${pkg.digest}`);
      const baseline = packageJson<unknown>(pkg, PackageFiles.baseline);
      if (baseline) {
        const b = BaselineSchema.parse(baseline);
        console.log(`\nbaseline: ${b.rows} rows, ${b.features.length} feature profiles${b.prediction ? ', prediction profile' : ''}`);
      }
      const q = m.quantization;
      if (!q) console.log('quantization: none (mlops quantize writes model.int8.onnx)');
      else console.log(`quantization: ${q.mode}, ${q.file ?? 'no layer quantized'}; ${q.servable ? 'passed its gate: the int8 model serves' : `failed its gate (${q.failures.join('; ')}): the float model serves`}; report ${q.report}`);
    });
}

function describeFeature(f: Feature): string {
  const missing = f.nullable ? ', or missing' : '';
  if (f.type === 'categorical') return `${f.levels.length} levels: ${f.levels.slice(0, 6).join(', ')}${f.levels.length > 6 ? ', …' : ''}${missing}`;
  const range = f.min !== undefined || f.max !== undefined ? ` in [${f.min ?? '-∞'}, ${f.max ?? '∞'}]` : '';
  return `number${range}${missing}`;
}

import type { Command } from 'commander';
import { ModelRepository } from '../../core/model/registry';
import { promote, rollback } from '../../model-pipeline/registry/registry-ops';
import { packageStore } from '../args';
import { table } from '../format';

const REPO_HELP = 'model repository: a folder or s3://<model-bucket> holding models/<name>/<version>/ packages';

/** `mlops models list|show|promote|rollback`: the registry of a model repository. */
export function registerModels(program: Command): void {
  const models = program.command('models').description('List, show, promote and roll back model versions in a repository.');
  const repository = (location: string) => new ModelRepository(packageStore(location));

  models
    .command('list')
    .description('Models with their serving version and version count.')
    .requiredOption('--repo <location>', REPO_HELP)
    .action(async (o) => {
      const repo = repository(o.repo);
      const rows: (string | number)[][] = [['model', 'serving', 'versions']];
      for (const name of await repo.listModels()) {
        const registry = await repo.registryOf(name);
        rows.push([name, registry.serving ?? '(newest)', (await repo.listVersions(name)).length]);
      }
      console.log(table(rows));
    });

  models
    .command('show')
    .description('Every version of a model: status, why, metrics, parent.')
    .argument('<model>')
    .requiredOption('--repo <location>', REPO_HELP)
    .action(async (name: string, o) => {
      const repo = repository(o.repo);
      const registry = await repo.registryOf(name);
      const rows: (string | number)[][] = [['version', 'status', 'accuracy', 'parent', 'int8', 'note']];
      for (const version of await repo.listVersions(name)) {
        const pkg = await repo.load(name, version);
        const entry = registry.versions.find((v) => v.version === version);
        const q = pkg.manifest.quantization;
        rows.push([version, entry?.status ?? 'unregistered', pkg.manifest.metrics.accuracy ?? '', pkg.manifest.parentVersion ?? '', q ? (q.servable ? 'serves' : 'failed gate') : '', entry?.note ?? '']);
      }
      console.log(`${name}: serving ${registry.serving ?? '(newest version)'}${registry.history.length ? `, rollback to ${registry.history.at(-1)}` : ''}`);
      console.log(table(rows));
    });

  models
    .command('promote')
    .description('Make a version the serving one (a rejected version cannot be promoted).')
    .argument('<model>')
    .argument('<version>')
    .requiredOption('--repo <location>', REPO_HELP)
    .option('--note <text>', 'why', 'promoted by hand')
    .action(async (name: string, version: string, o) => {
      const registry = await promote(repository(o.repo), name, version, o.note);
      console.log(`${name}: ${registry.serving} serves${registry.history.length ? `; ${registry.history.at(-1)} kept for rollback` : ''}`);
    });

  models
    .command('rollback')
    .description('Return to the version that served before the current one.')
    .argument('<model>')
    .requiredOption('--repo <location>', REPO_HELP)
    .option('--reason <text>', 'why', 'rolled back by hand')
    .action(async (name: string, o) => {
      const registry = await rollback(repository(o.repo), name, o.reason);
      console.log(`${name}: ${registry.serving} serves again`);
    });
}

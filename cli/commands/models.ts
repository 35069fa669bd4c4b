import type { Command } from 'commander';
import { ModelRepository } from '../../core/model/registry';
import { promote, rollback, startCanary } from '../../model-pipeline/registry/registry-ops';
import { packageStore } from '../args';
import { table } from '../format';

const REPO_HELP = 'model repository: a folder or s3://<model-bucket> holding models/<name>/<version>/ packages';

/** `mlops models list|show|canary|promote|rollback`: the registry of a model repository. */
export function registerModels(program: Command): void {
  const models = program.command('models').description('List, show, canary, promote and roll back model versions in a repository.');
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
      const canary = registry.canary;
      if (canary) {
        console.log(`canary ${canary.version}: ${+(canary.weight * 100).toFixed(2)}% of requests since ${canary.startedAt}${canary.until ? ` until ${canary.until}` : ''}${canary.runId ? ` (run ${canary.runId})` : ''}`);
      }
      console.log(table(rows));
    });

  models
    .command('canary')
    .description('Send a share of the requests that name no version to a version, beside the serving one.')
    .argument('<model>')
    .argument('<version>')
    .requiredOption('--repo <location>', REPO_HELP)
    .option('--weight <share>', 'share of requests, above 0 and at most 1', '0.1')
    .option('--minutes <n>', 'length of the observation window (recorded for the pipeline and the dashboard)')
    .action(async (name: string, version: string, o) => {
      const weight = Number(o.weight);
      if (!(weight > 0 && weight <= 1)) throw new Error(`--weight must be above 0 and at most 1 (received ${o.weight})`);
      const minutes = o.minutes === undefined ? undefined : Number(o.minutes);
      if (minutes !== undefined && !(minutes > 0)) throw new Error(`--minutes must be a positive number (received ${o.minutes})`);
      const until = minutes === undefined ? undefined : new Date(Date.now() + minutes * 60_000);
      const registry = await startCanary(repository(o.repo), name, version, { weight, until, note: `canary started by hand: ${+(weight * 100).toFixed(2)}% of requests` });
      console.log(`${name}: ${version} takes ${+(weight * 100).toFixed(2)}% of requests as a canary; ${registry.serving} serves the rest`);
      console.log(`promote it with: mlops models promote ${name} ${version} --repo ${o.repo}; abort it with: mlops models rollback ${name} --repo ${o.repo}`);
    });

  models
    .command('promote')
    .description('Make a version the serving one (a rejected version cannot be promoted); promoting the running canary ends it.')
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
    .description('Abort the running canary (the serving version stays), or else return to the version that served before the current one.')
    .argument('<model>')
    .requiredOption('--repo <location>', REPO_HELP)
    .option('--reason <text>', 'why', 'rolled back by hand')
    .action(async (name: string, o) => {
      const repo = repository(o.repo);
      const canary = (await repo.registryOf(name)).canary;
      const registry = await rollback(repo, name, o.reason);
      console.log(canary ? `${name}: canary ${canary.version} rolled back; ${registry.serving} serves every request` : `${name}: ${registry.serving} serves again`);
    });
}

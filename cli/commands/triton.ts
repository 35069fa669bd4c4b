import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ModelRepository } from '../../core/model/registry';
import { gpuSettings, loadConfig, tritonServingOptions } from '../../core/platform-config';
import { publishTritonArtifact } from '../../model-pipeline/triton/publish';
import { openPackage, packageStore } from '../args';
import { formatBytes } from '../format';

const DEFAULT_CONFIG = 'mlops.config.json';

/** `mlops triton publish`: the Triton artifact a GPU endpoint deploys. */
export function registerTriton(program: Command): void {
  const triton = program.command('triton').description('Build and publish the Triton artifacts SageMaker GPU endpoints serve.');

  triton
    .command('publish')
    .description(
      'Copy a package into the model repository (if absent) and write its Triton artifact (model.tar.gz) at ' +
        'models/<name>/<version>/triton/model.tar.gz, where the GPU endpoint reads it; an identical artifact is left as it is.',
    )
    .argument('<package>', 'package folder or s3:// location')
    .requiredOption('--repo <location>', 'model repository: a folder or s3://<model-bucket>')
    .option('--config <file>', `platform config whose gpu section sets batching and TensorRT (default: ${DEFAULT_CONFIG} when present, else the defaults)`)
    .action(async (location: string, o: { repo: string; config?: string }) => {
      const configFile = o.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const options = configFile ? tritonServingOptions(gpuSettings(loadConfig(configFile))) : {};
      const pkg = await openPackage(location);
      const repository = new ModelRepository(packageStore(o.repo));
      const published = await publishTritonArtifact(repository, pkg, options);
      const { name, version } = pkg.manifest;
      if (published.package === 'uploaded') console.log(`package ${name}@${version} copied to ${repository.store.describe(`models/${name}/${version}/`)}`);
      const what = published.artifact === 'uploaded' ? 'written' : 'unchanged (the same sha256 is already there)';
      console.log(`${repository.store.describe(published.key)}: ${what}, ${formatBytes(published.bytes)}, sha256 ${published.sha256}`);
      console.log(`batching: max_batch_size ${published.built.config.maxBatchSize}${configFile ? ` (from ${configFile})` : ' (defaults)'}`);
      console.log(`to serve it: set gpu.modelVersions.${name} to "${version}" in ${configFile ?? DEFAULT_CONFIG}, then run npx cdk deploy (blue/green canary, rolled back on alarm)`);
    });
}

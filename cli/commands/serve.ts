import type { Command } from 'commander';
import { startApiServer } from '../../local/api-server';
import { InferenceEngine } from '../../core/model/engine';
import { StaticModelSource } from '../../core/model/registry';
import { DEFAULT_LIMITS } from '../../core/protocol/limits';
import { integer, openPackage } from '../args';

/** `mlops serve`. */
export function registerServe(program: Command): void {
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
        { port: o.port, notice: (line) => console.error(`mlops: ${line}`) },
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
}

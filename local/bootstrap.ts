import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataPrefixes } from '../core/layout';
import type { BlobStore } from '../core/model/blob-store';
import type { ModelRepository } from '../core/model/registry';
import { writeGeneratedCsv } from '../model-pipeline/data/generate';
import { trainPackage } from '../model-pipeline/train/train-package';

/** The model every fresh installation starts with. */
export const DEMO_MODEL = { name: 'demo', version: '1.0.0', label: 'churned' } as const;

/**
 * Trains the demo model on generated data unless the repository has it, registers it as the
 * serving version and keeps its training data (retraining starts from it), so a first
 * `npm start` has something to serve.
 */
export async function ensureDemoModel(models: ModelRepository, data: BlobStore, workDir: string, log: (line: string) => void = () => {}): Promise<void> {
  if ((await models.listVersions(DEMO_MODEL.name)).length > 0) return;
  await mkdir(workDir, { recursive: true });
  const dataFile = join(workDir, 'demo-train.csv');
  log('bootstrapping the demo model: generating 20,000 training rows…');
  await writeGeneratedCsv(dataFile, { rows: 20_000, seed: 1 });
  log('training the demo model (MLP, 32 hidden units)…');
  const { pkg } = await trainPackage(models.packageStore(DEMO_MODEL.name, DEMO_MODEL.version), {
    data: dataFile,
    label: DEMO_MODEL.label,
    name: DEMO_MODEL.name,
    version: DEMO_MODEL.version,
    description: 'Demo churn classifier trained on generated data',
  });
  await data.write(`${DataPrefixes.datasets}${DEMO_MODEL.name}/${DEMO_MODEL.version}/train.csv`, await readFile(dataFile));
  await models.writeRegistry({
    name: DEMO_MODEL.name,
    serving: DEMO_MODEL.version,
    // The digest makes an edited demo package (its manifest, its classes) refused at load, as a registered version's.
    versions: [{ version: DEMO_MODEL.version, status: 'serving', createdAt: pkg.manifest.createdAt, note: 'bootstrapped demo model', digest: pkg.digest }],
  });
  log(`demo model ready: accuracy ${pkg.manifest.metrics.accuracy?.toFixed(3)} on held-out rows`);
}

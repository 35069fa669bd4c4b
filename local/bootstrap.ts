import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryStore } from '../core/model/blob-store';
import { PackageFiles } from '../core/model/manifest';
import { writeGeneratedCsv } from '../model-pipeline/data/generate';
import { trainPackage } from '../model-pipeline/train/train-package';

/** The model every fresh installation starts with. */
export const DEMO_MODEL = { name: 'demo', version: '1.0.0', label: 'churned' } as const;

/** Folder of one model version under the platform's home. */
export function packageDir(home: string, name: string, version: string): string {
  return join(home, 'models', name, version);
}

/**
 * Trains the demo model on generated data unless it already exists, so a first `npm start`
 * has something to serve. Returns the package folder.
 */
export async function ensureDemoModel(home: string, log: (line: string) => void = () => {}): Promise<string> {
  const dir = packageDir(home, DEMO_MODEL.name, DEMO_MODEL.version);
  try {
    await access(join(dir, PackageFiles.manifest));
    return dir;
  } catch {
    // Not there yet: make it.
  }
  const dataDir = join(home, 'data');
  await mkdir(dataDir, { recursive: true });
  const data = join(dataDir, 'demo-train.csv');
  log('bootstrapping the demo model: generating 20,000 training rows…');
  await writeGeneratedCsv(data, { rows: 20_000, seed: 1 });
  log('training the demo model (MLP, 32 hidden units)…');
  const { pkg } = await trainPackage(new DirectoryStore(dir), { data, label: DEMO_MODEL.label, name: DEMO_MODEL.name, version: DEMO_MODEL.version, description: 'Demo churn classifier trained on generated data' });
  log(`demo model ready: accuracy ${pkg.manifest.metrics.accuracy?.toFixed(3)} on held-out rows → ${dir}`);
  return dir;
}

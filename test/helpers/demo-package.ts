import { join } from 'node:path';
import { DirectoryStore } from '../../core/model/blob-store';
import type { ModelPackage } from '../../core/model/model-package';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { trainPackage } from '../../model-pipeline/train/train-package';

/** Trains a small package on generated churn data in `dir`: a real ONNX model, quickly (a couple of seconds). */
export async function trainDemoPackage(dir: string, options: { name?: string; version?: string; rows?: number; seed?: number; task?: 'binary' | 'multiclass' } = {}): Promise<ModelPackage> {
  const data = join(dir, `${options.name ?? 'demo'}-train.csv`);
  await writeGeneratedCsv(data, { rows: options.rows ?? 4000, seed: options.seed ?? 1, task: options.task });
  const { pkg } = await trainPackage(new DirectoryStore(join(dir, options.name ?? 'demo', options.version ?? '1.0.0')), {
    data,
    label: options.task === 'multiclass' ? 'segment' : 'churned',
    name: options.name ?? 'demo',
    version: options.version ?? '1.0.0',
    epochs: 15,
  });
  return pkg;
}

/** One valid instance of the generated churn schema, as named features. */
export const churnInstance = { age: 41, income: 52000, tenure_months: 6, sessions_per_week: 2.5, support_tickets: 4, monthly_spend: 80.5, plan: 'basic', region: 'eu', channel: 'web' };

import { createHash } from 'node:crypto';
import { DataPrefixes } from './layout';
import { classesOf, type Manifest } from './model/manifest';

/**
 * The training-job contract: what a user's training image (or, locally, a command) gets and must
 * leave behind. It follows SageMaker's container conventions, so an image written for SageMaker
 * runs unchanged:
 *
 * - `/opt/ml/input/data/train/train.csv` and `/opt/ml/input/data/holdout/holdout.csv`: CSV with a
 *   header, the serving model's feature columns and its label column (env `SM_CHANNEL_TRAIN`,
 *   `SM_CHANNEL_HOLDOUT`);
 * - `/opt/ml/input/config/hyperparameters.json`: string values, see {@link trainingHyperparameters}
 *   (env `SM_HPS` holds the same JSON);
 * - it writes `model.onnx` to `/opt/ml/model/` (env `SM_MODEL_DIR`), which is tarred to
 *   `model.tar.gz` under the job's output path; one 2-D float32 input whose columns are the
 *   features in `feature_names` order (a categorical feature as the index of its value in the
 *   feature's `levels`), and one float output of scores (class probabilities or logits in
 *   `classes` order, or the predicted value);
 * - a failure reason may be written to `/opt/ml/output/failure`; a non-zero exit fails the job.
 */
export const TrainingContract = {
  root: '/opt/ml',
  channels: ['train', 'holdout'] as const,
  /** File name of each channel's CSV inside its channel folder. */
  channelFile: (channel: 'train' | 'holdout') => `${channel}.csv`,
  model: 'model.onnx',
  artifact: 'model.tar.gz',
} as const;

/** Hyperparameter keys the platform sets; config hyperparameters may not use them. */
export const RESERVED_HYPERPARAMETERS = ['label_column', 'feature_names', 'features', 'classes'] as const;

/** Where a run's training job reads and writes, all keys of the data bucket. */
export interface TrainingJobSpec {
  /** SageMaker training job name: deterministic per model and run, so a run resumes instead of training twice. */
  readonly name: string;
  /** Channel keys (prepare's train and holdout CSV). */
  readonly channels: { readonly train: string; readonly holdout: string };
  /** The job's output path: SageMaker writes `<outputPrefix><name>/output/model.tar.gz`. */
  readonly outputPrefix: string;
  /** The model artifact's key. */
  readonly artifactKey: string;
  readonly hyperparameters: Readonly<Record<string, string>>;
}

/** Runs a training job of the contract and leaves `model.tar.gz` at `spec.artifactKey` (locally: a command; in AWS the state machine's SageMaker task does it). */
export type TrainingJobRunner = (spec: TrainingJobSpec) => Promise<void>;

/**
 * A SageMaker training job name for a run: `<model>-<runId>` with characters outside
 * [a-zA-Z0-9-] turned into dashes, cut to SageMaker's 63 characters with a hash of the original
 * pair so that distinct runs never share a name.
 */
export function trainingJobName(model: string, runId: string): string {
  const raw = `${model}-${runId}`;
  const clean = raw.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (clean === raw && clean.length <= 63) return clean;
  const digest = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return `${clean.slice(0, 63 - 9).replace(/-+$/, '')}-${digest}`;
}

/** The output path of a run's training job: under the run's own pipeline prefix. */
export function trainingOutputPrefix(model: string, runId: string): string {
  return `${DataPrefixes.pipeline}${model}/${runId}/training/`;
}

/**
 * What the platform tells the training code, as SageMaker hyperparameters (string values): the
 * label column, the feature names in input order, the serving model's feature schema (JSON), its
 * classes in score order (JSON, `[]` for regression), then the configured ones.
 */
export function trainingHyperparameters(serving: Manifest, user: Readonly<Record<string, string>> = {}): Record<string, string> {
  const reserved = Object.keys(user).filter((k) => (RESERVED_HYPERPARAMETERS as readonly string[]).includes(k));
  if (reserved.length) throw new Error(`hyperparameters ${reserved.join(', ')} are set by the platform; rename them`);
  if (!serving.labelColumn) throw new Error(`${serving.name} ${serving.version} names no label column; it cannot be retrained`);
  const hyperparameters = {
    ...user,
    label_column: serving.labelColumn,
    feature_names: serving.input.features.map((f) => f.name).join(','),
    features: JSON.stringify(serving.input.features),
    classes: JSON.stringify(classesOf(serving)),
  };
  // Checked here, not left to CreateTrainingJob, so that a run fails with the reason, locally too.
  for (const [key, value] of Object.entries(hyperparameters)) {
    if (value.length > MAX_HYPERPARAMETER_LENGTH) {
      throw new Error(`hyperparameter ${key} is ${value.length} characters long; SageMaker allows ${MAX_HYPERPARAMETER_LENGTH}`);
    }
  }
  return hyperparameters;
}

/** SageMaker's limit on one hyperparameter value. */
const MAX_HYPERPARAMETER_LENGTH = 2500;

/** The training job of a run whose data prepare has written. */
export function trainingJobSpec(model: string, runId: string, data: { train: string; holdout: string }, serving: Manifest, user?: Readonly<Record<string, string>>): TrainingJobSpec {
  const name = trainingJobName(model, runId);
  const outputPrefix = trainingOutputPrefix(model, runId);
  return {
    name,
    channels: { train: data.train, holdout: data.holdout },
    outputPrefix,
    artifactKey: `${outputPrefix}${name}/output/${TrainingContract.artifact}`,
    hyperparameters: trainingHyperparameters(serving, user),
  };
}

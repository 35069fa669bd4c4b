/**
 * Key prefixes of the data bucket. Plain constants with no CDK import, so Lambda handlers, the
 * local platform and the infrastructure (lifecycle rules, triggers) share one spelling.
 */
export const DataPrefixes = {
  /** Files dropped by the data team, as `batch/input/<model>/...`. */
  batchInput: 'batch/input/',
  /** Scored rows, mirroring the input key. */
  batchOutput: 'batch/output/',
  /** Rejected rows and why, mirroring the input key. */
  batchErrors: 'batch/errors/',
  /** Outputs being written; moved to batch/output/ and batch/errors/ only when complete. */
  batchStaging: 'batch/staging/',
  /** One manifest per input file that reconciles input, scored and rejected counts. */
  batchManifests: 'batch/manifests/',
  /** Sampled requests and predictions written by the serving path. */
  capture: 'capture/',
  /** SageMaker's own data capture of the GPU endpoints, as `capture-raw/<model>/...`; converted into capture/. */
  captureRaw: 'capture-raw/',
  /** Drift reports (JSON and HTML). */
  reports: 'reports/',
  /** Late-arriving ground truth joined with captured predictions; labelled rows for retraining. */
  labels: 'labels/',
  /** Training data of each model version, as `datasets/<model>/<version>/train.csv`. */
  datasets: 'datasets/',
  /** Retraining runs: state and data, as `pipeline/<model>/<runId>/…`. */
  pipeline: 'pipeline/',
  /** The drift monitor's state per model: watermark, recent verdicts, last retraining trigger. */
  monitor: 'monitor/',
  /**
   * The drift monitor's index of the predictions it read, so labels that arrive later can be joined,
   * as `monitor/_predictions/<model>/<version>/<YYYY-MM-DD>/<run>-<part>.jsonl` (UTC day of capture).
   * Inside monitor/, which the monitor already reads and writes, yet apart from its per-model state
   * (no model name starts with "_"), so one lifecycle rule can expire it after the label window.
   */
  predictionIndex: 'monitor/_predictions/',
  /** Notifications the platform sent (failures, promotions), one JSON object each. */
  notifications: 'notifications/',
} as const;

/** One of the data bucket's prefixes. */
export type DataPrefix = (typeof DataPrefixes)[keyof typeof DataPrefixes];

/**
 * Keys of the model bucket: one folder per model version holding a package, and one
 * registry index per model naming the version in service.
 */
export const ModelLayout = {
  root: 'models/',
  /** Folder of a model's packages and registry. */
  model: (name: string) => `models/${name}/`,
  /** Folder of one package version. */
  package: (name: string, version: string) => `models/${name}/${version}/`,
  /** The model's registry index (see core/model/registry.ts). */
  registry: (name: string) => `models/${name}/registry.json`,
} as const;

/** Key of the Triton artifact inside a package folder. */
export const TRITON_ARTIFACT = 'triton/model.tar.gz';

/** Where a version's Triton artifact lives in the model bucket (the GPU endpoint's model data): `models/<name>/<version>/triton/model.tar.gz`. */
export function tritonArtifactKey(name: string, version: string): string {
  return `${ModelLayout.package(name, version)}${TRITON_ARTIFACT}`;
}

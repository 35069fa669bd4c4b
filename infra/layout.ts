/**
 * Key prefixes of the data bucket. Plain constants with no CDK import, so Lambda handlers and the
 * local platform can share them with the infrastructure that sets lifecycle rules and triggers on them.
 */
export const DataPrefixes = {
  /** Files dropped by the data team, as `batch/input/<model>/...`. */
  batchInput: 'batch/input/',
  /** Scored rows, mirroring the input key. */
  batchOutput: 'batch/output/',
  /** Rejected rows and why, mirroring the input key. */
  batchErrors: 'batch/errors/',
  /** One manifest per input file that reconciles input, scored and rejected counts. */
  batchManifests: 'batch/manifests/',
  /** Sampled requests and predictions written by the serving path. */
  capture: 'capture/',
  /** Drift reports (JSON and HTML). */
  reports: 'reports/',
  /** Late-arriving ground truth joined with captured predictions. */
  labels: 'labels/',
} as const;

/** One of the data bucket's prefixes. */
export type DataPrefix = (typeof DataPrefixes)[keyof typeof DataPrefixes];

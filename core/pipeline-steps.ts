/*
 * The steps of a retraining run: a contract between the runner (model-pipeline/pipeline/), which
 * executes them, and the Step Functions state machine (infra/), which names a state after each.
 */

/** The steps of a retraining run, in order. */
export const STEP_NAMES = ['prepare', 'train', 'importArtifact', 'evaluate', 'quantize', 'gate', 'register', 'deploy', 'canaryCheck', 'notify'] as const;
export type StepName = (typeof STEP_NAMES)[number];

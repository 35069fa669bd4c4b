import { type Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * Checks every stack in the app (or stage) against cdk-nag's AwsSolutions pack right after
 * synthesis. Findings not acknowledged with `Validations.of(construct).acknowledge({ id, reason })`
 * land in the cloud assembly's policy validation report, and errors fail `cdk synth`.
 */
export function applyNagChecks(scope: Stage): void {
  // verbose: each finding carries the rule's explanation, not only its one-line summary.
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope, { verbose: true }));
}

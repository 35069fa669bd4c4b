import { Stack, type Stage, Validations } from 'aws-cdk-lib';
import type { CfnPolicy, Policy } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
// The function cdk-nag itself uses to spell a resource in a finding id.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';

/**
 * Checks every stack in the app (or stage) against cdk-nag's AwsSolutions pack right after
 * synthesis. Findings not acknowledged with `Validations.of(construct).acknowledge({ id, reason })`
 * land in the cloud assembly's policy validation report, and errors fail `cdk synth`.
 */
export function applyNagChecks(scope: Stage): void {
  // verbose: each finding carries the rule's explanation, not only its one-line summary.
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope, { verbose: true }));
}

/**
 * Acknowledges cdk-nag's AwsSolutions-IAM5 finding for each wildcard resource of `policy` that ends
 * with one of `suffixes` (such as `/models/*`), under the exact id cdk-nag reports:
 * `AwsSolutions-IAM5[Resource::<resource as CloudFormation sees it>]`. For a bucket of another
 * stack that resource is an import whose export name CDK only settles while preparing synthesis,
 * so the acknowledgement is recorded when the construct tree is validated: after references are
 * resolved, before validation plugins run. Other wildcards in the policy stay reported.
 */
export function acknowledgeWildcardResources(policy: Policy, suffixes: readonly string[], reason: string): void {
  const acknowledged = new Set<string>();
  policy.node.addValidation({
    validate: () => {
      const document = Stack.of(policy).resolve((policy.node.defaultChild as CfnPolicy).policyDocument) as {
        Statement?: Array<{ Effect?: string; Resource?: unknown }>;
      };
      for (const statement of document.Statement ?? []) {
        const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
        for (const resource of resources.map(flattenCfnReference)) {
          if (!resource.includes('*') || !suffixes.some((suffix) => resource.endsWith(suffix))) continue;
          const id = `AwsSolutions-IAM5[Resource::${resource}]`;
          // Each synthesis validates again; record each acknowledgement once.
          if (acknowledged.has(id)) continue;
          acknowledged.add(id);
          Validations.of(policy).acknowledge({ id, reason });
        }
      }
      return [];
    },
  });
}

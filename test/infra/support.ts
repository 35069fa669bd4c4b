import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type AppProps, type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { expect } from 'vitest';
import type { IConstruct } from 'constructs';

/** The context of cdk.json, so tests synthesize with the same feature flags as `cdk synth`. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Context that makes synthesis skip asset bundling (esbuild, the ONNX Runtime layer) in every stack. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

/**
 * An App with the feature flags of cdk.json. Validation findings go to the report instead of
 * failing synthesis, so tests can assert on them; pass `builtinCloudFormationValidation: false`
 * where they are not the subject, to skip the validator's slow first load. Assets are not bundled
 * (see {@link SKIP_BUNDLING}); a test that inspects them passes `'aws:cdk:bundling-stacks': ['**']`.
 */
export function testApp(props: AppProps = {}): App {
  const context = { ...cdkJsonContext(), '@aws-cdk/core:failSynthOnValidationErrors': false, ...SKIP_BUNDLING, ...props.context };
  return new App({ ...props, context });
}

/** One rule a validation plugin reports as violated, with the constructs that violate it. */
export interface Finding {
  readonly plugin: string;
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

interface ValidationReportJson {
  pluginReports: Array<{
    pluginName: string;
    violations: Array<{
      ruleName: string;
      severity: string;
      violatingConstructs?: Array<{ constructPath?: string }>;
    }>;
  }>;
}

/**
 * Synthesizes the app and returns every finding its validation plugins (cdk-nag, CloudFormation
 * validation, construct annotations) left unacknowledged in the cloud assembly's validation report.
 */
export function unacknowledgedFindings(app: App): Finding[] {
  const report = JSON.parse(readFileSync(join(app.synth().directory, 'validation-report.json'), 'utf8')) as ValidationReportJson;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((v) => ({
      plugin: plugin.pluginName,
      rule: v.ruleName,
      severity: v.severity,
      paths: (v.violatingConstructs ?? []).map((c) => c.constructPath ?? '?'),
    })),
  );
}

/** One `Validations.of(construct).acknowledge(...)` call. */
export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement recorded anywhere under `scope`. */
export function acknowledgements(scope: IConstruct): Acknowledgement[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id, reason })),
      ),
  );
}

/** One statement of an IAM policy document, as it stands in a synthesized template. */
export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** A value CloudFormation allows as one item or a list, as a list. */
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** Every statement of every IAM policy in the template. */
export function statements(template: Template): Statement[] {
  return propertiesOfAll(template, 'AWS::IAM::Policy').flatMap((p) => (p.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** The resources the template's IAM policies allow `action` on, as cdk-nag spells them, sorted. */
export function resourcesAllowed(template: Template, action: string): string[] {
  return statements(template)
    .filter((s) => s.Effect === 'Allow' && list(s.Action).includes(action))
    .flatMap((s) => list(s.Resource).map(flattenCfnReference))
    .sort();
}

/**
 * What the IAM policies attached to `role` allow in S3, per action: each resource as
 * `<bucket>:<key pattern>`, the bucket named by the first label of `buckets` whose pattern its
 * flattened ARN matches; for s3:ListBucket, the s3:prefix patterns its condition allows. Sorted, so
 * that a table of expectations reads as a specification.
 */
export function s3AccessOf(template: Template, role: IConstruct, buckets: Readonly<Record<string, RegExp>>): Record<string, string[]> {
  const roleRef = JSON.stringify({ Ref: logicalId(role) });
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles?: unknown[]; PolicyDocument: { Statement: Statement[] } } }>;
  const bucketOf = (arn: string) => Object.entries(buckets).find(([, pattern]) => pattern.test(arn))?.[0] ?? arn;
  const access: Record<string, string[]> = {};
  const attached = policies.filter((p) => (p.Properties.Roles ?? []).some((r) => JSON.stringify(r) === roleRef));
  for (const statement of attached.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((st) => st.Effect === 'Allow')) {
    for (const action of list(statement.Action).map(String).filter((a) => a.startsWith('s3:'))) {
      for (const resource of list(statement.Resource).map(flattenCfnReference)) {
        const [arn, ...key] = resource.split('/');
        const keys = action === 's3:ListBucket' ? list(statement.Condition?.StringLike?.['s3:prefix']).map(String) : [key.join('/')];
        (access[action] ??= []).push(...keys.map((k) => `${bucketOf(arn!)}:${k}`));
      }
    }
  }
  for (const keys of Object.values(access)) keys.sort();
  return access;
}

/** The properties of every resource of a type in the template. */
export function propertiesOfAll(template: Template, type: string): Array<Record<string, unknown>> {
  return Object.values(template.findResources(type)).map((r) => (r as { Properties: Record<string, unknown> }).Properties);
}

/** The properties of the one resource of a type in the template. */
export function only(template: Template, type: string): Record<string, unknown> {
  const all = propertiesOfAll(template, type);
  expect(all, type).toHaveLength(1);
  return all[0]!;
}

/** The logical id of a construct's CloudFormation resource (its default child, or itself for an L1). */
export function logicalId(construct: IConstruct): string {
  const resource = (construct.node.defaultChild ?? construct) as CfnResource;
  return Stack.of(construct).resolve(resource.logicalId) as string;
}

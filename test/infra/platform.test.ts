import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../core/platform-config';
import { addPlatformStacks } from '../../infra/platform';
import { list, type Statement, testApp } from './support';

const repoConfig = loadConfig(new URL('../../mlops.config.json', import.meta.url).pathname);

/** Configurations that between them create every stack and every optional construct. */
const CONFIGS: Record<string, object> = {
  'mlops.config.json': repoConfig,
  'no model (alarms, storage and batch only)': { stage: 'test' },
  'every stack: serverless, GPU-only (Batch Transform) and both, LLM endpoints, a SageMaker training job': {
    stage: 'test',
    alarmEmail: 'oncall@example.com',
    models: [{ name: 'demo' }, { name: 'both', servingMode: 'both' }, { name: 'gpu', servingMode: 'gpu' }],
    llm: { models: [{ name: 'chat', modelId: 'Qwen/Qwen2.5-1.5B-Instruct' }, { name: 'own', weightsPrefix: 'llm/own/' }] },
    pipeline: { training: { mode: 'sagemaker', image: '{account}.dkr.ecr.{region}.{urlSuffix}/trainer:1' } },
  },
  'no canary and S3-managed keys': { stage: 'test', models: [{ name: 'demo' }], pipeline: { canary: { enabled: false } }, storage: { useKmsKey: false } },
};

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}

interface TemplateJson {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: string } }>;
}

/** Every stack of the platform a configuration describes, with its synthesized template. */
function synthStacks(config: object): Array<{ stack: Stack; template: TemplateJson }> {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig(config));
  return Object.values(platform)
    .filter((stack): stack is Stack => stack !== undefined)
    .map((stack) => ({ stack, template: Template.fromStack(stack).toJSON() as TemplateJson }));
}

/**
 * The resource type an alarm action points at: a `Ref` to a resource of the alarm's own stack,
 * or an `Fn::ImportValue` of another stack's export, followed to the resource it exports.
 */
function typeOfTarget(action: unknown, own: TemplateJson, all: readonly TemplateJson[]): string | undefined {
  const ref = (value: unknown, template: TemplateJson) => {
    const id = (value as { Ref?: unknown }).Ref;
    return typeof id === 'string' ? template.Resources[id]?.Type : undefined;
  };
  const imported = (action as { 'Fn::ImportValue'?: unknown })['Fn::ImportValue'];
  if (typeof imported !== 'string') return ref(action, own);
  for (const template of all) {
    const output = Object.values(template.Outputs ?? {}).find((o) => o.Export?.Name === imported);
    if (output) return ref(output.Value, template);
  }
  return undefined;
}

/** Every statement of every IAM policy (inline policies of roles included) in a template. */
function policyStatements(template: TemplateJson): Statement[] {
  return Object.values(template.Resources).flatMap((r) => {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') return (r.Properties!.PolicyDocument as { Statement: Statement[] }).Statement;
    if (r.Type === 'AWS::IAM::Role') return ((r.Properties!.Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap((p) => p.PolicyDocument.Statement);
    return [];
  });
}

/** Whether a statement's actions include listing a bucket, spelled out or by a wildcard. */
const listsBuckets = (s: Statement) => list(s.Action).some((a) => ['s3:ListBucket', 's3:List*', 's3:*', '*'].includes(String(a)));

describe.each(Object.entries(CONFIGS))('the platform with %s', (_name, config) => {
  const stacks = synthStacks(config);
  const templates = stacks.map((s) => s.template);
  const alarms = stacks.flatMap(({ stack, template }) =>
    Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
      .map(([id, r]) => ({ name: `${stack.stackName}/${id}`, actions: (r.Properties!.AlarmActions ?? []) as unknown[], template })),
  );

  it('has alarms to check', () => {
    expect(alarms.length).toBeGreaterThan(0);
  });

  it('has no CloudWatch alarm without an alarm action', () => {
    expect(alarms.filter((a) => a.actions.length === 0).map((a) => a.name)).toEqual([]);
  });

  it('points every alarm action at an SNS topic', () => {
    const elsewhere = alarms.flatMap((a) => a.actions.filter((action) => typeOfTarget(action, a.template, templates) !== 'AWS::SNS::Topic').map((action) => `${a.name} → ${flattenCfnReference(action)}`));

    expect(elsewhere).toEqual([]);
  });

  it("points every alarm action at the same topic: the alarms stack's on-call topic", () => {
    const topics = new Set(alarms.flatMap((a) => a.actions.map((action) => flattenCfnReference(action))));

    expect([...topics]).toEqual([expect.stringMatching(/^Mlops-\w+-Alarms:ExportsOutputRefAlarmTopic\w+$/)]);
  });

  it('grants s3:ListBucket only with a StringLike condition on s3:prefix, in every stack', () => {
    const unconditioned = stacks.flatMap(({ stack, template }) =>
      policyStatements(template)
        .filter((s) => s.Effect === 'Allow' && listsBuckets(s))
        .filter((s) => {
          const prefixes = s.Condition?.StringLike?.['s3:prefix'];
          return !(Array.isArray(prefixes) ? prefixes.length > 0 : typeof prefixes === 'string');
        })
        .map((s) => `${stack.stackName}: ${JSON.stringify(s.Action)} on ${list(s.Resource).map(flattenCfnReference).join(', ')}`),
    );

    expect(unconditioned).toEqual([]);
  });

  it('never lets a listing reach a whole bucket: no s3:prefix condition is "*" alone', () => {
    const prefixes = stacks.flatMap(({ template }) => policyStatements(template).filter(listsBuckets).flatMap((s) => list(s.Condition?.StringLike?.['s3:prefix'])));

    expect(prefixes.length).toBeGreaterThan(0);
    expect(prefixes.filter((p) => p === '*' || p === '')).toEqual([]);
  });
});

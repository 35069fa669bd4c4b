import { type App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IConstruct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../../core/pipeline-steps';
import { parseConfig } from '../../core/platform-config';
import { type PipelineHandler, RetrainingPipeline } from '../../infra/constructs/retraining-pipeline';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import type { PipelineStack } from '../../infra/stacks/pipeline-stack';
import { acknowledgements, list, logicalId, only, propertiesOfAll, resourcesAllowed, s3AccessOf, type Statement, statements, testApp, unacknowledgedFindings } from './support';

interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string;
}

/** One state of an Amazon States Language definition, with the fields these tests read. */
interface State {
  Type: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ResultPath?: string | null;
  OutputPath?: string;
  Retry?: Array<{ ErrorEquals: string[]; IntervalSeconds: number; BackoffRate: number; MaxAttempts: number }>;
  Catch?: Catcher[];
  Choices?: Array<Record<string, unknown> & { Next: string }>;
  Default?: string;
  ErrorPath?: string;
  CausePath?: string;
}

interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

/** The functions of the default pipeline: the built-in trainer (no ImportArtifact) and a canary (with AbortCanary). */
const HANDLERS: readonly PipelineHandler[] = ['start', ...STEP_NAMES.filter((step) => step !== 'importArtifact'), 'abortCanary'];

/** The platform for `stage: test` and one model, with `pipeline` settings. */
function synthPlatform(pipeline: object = {}, config: object = {}): { platform: Platform; stack: PipelineStack; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], pipeline, ...config }));
  if (!platform.pipeline) throw new Error('no pipeline stack');
  return { platform, stack: platform.pipeline, template: Template.fromStack(platform.pipeline) };
}

/**
 * The state machine's definition as JSON. CloudFormation receives it as an Fn::Join of string
 * parts and references (function ARNs, the topic); each reference becomes its cdk-nag spelling,
 * such as `<StartFunctionAB12.Arn>`, so the joined text parses.
 */
function definitionOf(template: Template): Definition {
  const machine = only(template, 'AWS::StepFunctions::StateMachine');
  const body = machine.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : flattenCfnReference(part))).join(body['Fn::Join'][0]);
  return JSON.parse(text) as Definition;
}

/** The states reached from `from` by Next and Default, in order, up to a terminal state or a Choice. */
function mainPath(definition: Definition, from = definition.StartAt): string[] {
  const path = [from];
  let state = definition.States[from];
  while (state?.Next) {
    path.push(state.Next);
    state = definition.States[state.Next];
  }
  return path;
}

/** Every state reachable from `from` by any transition: Next, Default, Choices and Catch. */
function reachable(definition: Definition, from: string): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const state = definition.States[name]!;
    for (const next of [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next), ...(state.Catch ?? []).map((c) => c.Next)]) {
      if (next) visit(next);
    }
  };
  visit(from);
  return seen;
}

/** The statements of one policy construct. */
function statementsOf(template: Template, policy: IConstruct): Statement[] {
  const resource = template.toJSON().Resources[logicalId(policy)] as { Properties: { PolicyDocument: { Statement: Statement[] } } };
  return resource.Properties.PolicyDocument.Statement;
}

/** The properties of a construct's CloudFormation resource. */
function propertiesOf(template: Template, construct: IConstruct): Record<string, unknown> {
  return (template.toJSON().Resources[logicalId(construct)] as { Properties: Record<string, unknown> }).Properties;
}

function variables(properties: Record<string, unknown>): Record<string, unknown> {
  return (properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

const DATA_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\//;
const MODEL_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\//;
/** An object ARN of the data bucket under `prefix`, with the wildcard after it. */
const dataObjects = (prefix: string) => expect.stringMatching(new RegExp(`${DATA_OBJECTS.source}${prefix.replaceAll('/', '\\/')}\\*$`));
/** An object ARN of the data bucket: exactly `pattern` after the bucket. */
const dataObjectsAt = (pattern: string) => expect.stringMatching(new RegExp(`${DATA_OBJECTS.source}${pattern.replaceAll('/', '\\/').replaceAll('*', '\\*').replaceAll('.', '\\.')}$`));
const modelObjects = () => expect.stringMatching(new RegExp(`${MODEL_OBJECTS.source}models\\/\\*$`));
const PLATFORM_KEY = { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttKey/) };
/** The alarms stack's on-call topic and its key: the pipeline notifies on-call there. */
const ALARM_TOPIC = /^Mlops-test-Alarms:ExportsOutputRefAlarmTopic/;
const ALARM_TOPIC_KEY = { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Alarms:ExportsOutputFnGetAttAlarmTopicKey/) };
/** The platform's buckets, as s3AccessOf names them. */
const BUCKETS = { data: /^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+$/, models: /^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+$/ };
/** Key patterns of the model bucket: anything under models/, any package's files, any registry. */
const MODELS = 'models:models/*';
const PACKAGES = 'models:models/*/*/*';
const REGISTRIES = 'models:models/*/registry.json';

/**
 * The state names of the step functions whose policies allow `action` on some object of the model
 * bucket that `matches` (given the key pattern after the bucket ARN), sorted.
 */
function stepsAllowedOnModels(template: Template, pipeline: RetrainingPipeline, action: string, matches: (pattern: string) => boolean): string[] {
  return [...pipeline.functions]
    .filter(([, fn]) => (s3AccessOf(template, fn.role, BUCKETS)[action] ?? []).some((k) => k.startsWith('models:') && matches(k.slice('models:'.length))))
    .map(([handler]) => STATE_NAMES[handler])
    .sort();
}

/** The state name of each handler's task. */
const STATE_NAMES: Readonly<Record<PipelineHandler, string>> = {
  start: 'Start',
  prepare: 'Prepare',
  train: 'Train',
  importArtifact: 'ImportArtifact',
  evaluate: 'Evaluate',
  quantize: 'Quantize',
  gate: 'Gate',
  register: 'Register',
  deploy: 'Deploy',
  canaryCheck: 'CanaryCheck',
  notify: 'Notify',
  abortCanary: 'AbortCanary',
};

describe('PipelineStack', () => {
  const { platform, stack, template } = synthPlatform();
  const { pipeline } = stack;
  const definition = definitionOf(template);
  const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');
  const functionArn = (handler: PipelineHandler) => `<${logicalId(pipeline.functions.get(handler)!)}.Arn>`;
  const topicRef = { 'Fn::ImportValue': expect.stringMatching(ALARM_TOPIC) };

  it('is named after the stage and deployed to the configured region', () => {
    expect(stack.stackName).toBe('Mlops-test-Pipeline');
    expect(stack.region).toBe('us-east-1');
  });

  it('makes this stack depend on the storage stack, never the other way round', () => {
    expect(stack.dependencies).toContain(platform.storage);
    expect(platform.storage.dependencies).not.toContain(stack);
  });

  describe('state machine', () => {
    it('is a STANDARD state machine with X-Ray tracing', () => {
      expect(only(template, 'AWS::StepFunctions::StateMachine')).toMatchObject({ StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true } });
    });

    it('logs ALL events, without execution data, to its own log group kept for a month', () => {
      const machine = only(template, 'AWS::StepFunctions::StateMachine');

      expect(machine.LoggingConfiguration).toEqual({
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logicalId(pipeline.logGroup), 'Arn'] } } }],
        IncludeExecutionData: false,
        Level: 'ALL',
      });
      expect(propertiesOf(template, pipeline.logGroup)).toMatchObject({ RetentionInDays: 30 });
    });

    it('runs Start → Prepare → Train → Evaluate → Quantize → Gate → Register → Verdict, then Deploy → CanaryStarted', () => {
      const verdict = definition.States.Verdict!;

      expect(mainPath(definition)).toEqual(['Start', 'Prepare', 'Train', 'Evaluate', 'Quantize', 'Gate', 'Register', 'Verdict']);
      expect(verdict.Type).toBe('Choice');
      expect(mainPath(definition, verdict.Default)).toEqual(['Deploy', 'CanaryStarted']);
      expect(definition.States.Done?.Type).toBe('Succeed');
    });

    it('after Deploy, loops CanaryWait → CanaryCheck while the outcome is "canary", then Notify → Done', () => {
      const started = definition.States.CanaryStarted!;
      const decided = definition.States.CanaryDecided!;
      const onCanary = (choice: State) => choice.Choices?.find((c) => JSON.stringify(c) === JSON.stringify({ Variable: '$.outcome', StringEquals: 'canary', Next: c.Next }))?.Next;

      expect(onCanary(started)).toBe('CanaryWait');
      expect(started.Default).toBe('Notify');
      expect(mainPath(definition, 'CanaryWait')).toEqual(['CanaryWait', 'CanaryCheck', 'CanaryDecided']);
      expect(onCanary(decided)).toBe('CanaryWait');
      expect(mainPath(definition, decided.Default)).toEqual(['Notify', 'Done']);
    });

    it('waits the configured check interval (5 minutes by default) between canary checks', () => {
      expect(definition.States.CanaryWait).toMatchObject({ Type: 'Wait', Seconds: 300 });
    });

    it('invokes, in each task, the function of the step it is named after', () => {
      const expected = Object.fromEntries(HANDLERS.map((h) => [h.charAt(0).toUpperCase() + h.slice(1), functionArn(h)]));

      for (const [name, resource] of Object.entries(expected)) expect(definition.States[name]?.Resource, name).toBe(resource);
      expect(definition.States.NotifyRejected?.Resource).toBe(functionArn('notify'));
    });

    it("passes each function's return value ({model, runId, outcome}) on as the next state's input", () => {
      for (const [name, state] of tasks.filter(([, s]) => s.Resource?.endsWith('.Arn>'))) {
        expect(state, name).not.toHaveProperty('Parameters');
        expect(state, name).not.toHaveProperty('ResultPath');
        expect(state, name).not.toHaveProperty('OutputPath');
      }
    });

    it('retries every task 3 times, 5 s apart and doubling, on Lambda service errors and throttling', () => {
      expect(tasks.length).toBe(13);
      for (const [name, state] of tasks.filter(([, s]) => s.Resource?.endsWith('.Arn>'))) {
        expect(state.Retry, name).toEqual([
          {
            ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
            IntervalSeconds: 5,
            BackoffRate: 2,
            MaxAttempts: 3,
          },
        ]);
      }
    });

    it('gives every task, the failure notification included, a Retry and a Catch of States.ALL', () => {
      for (const [name, state] of tasks) {
        expect(state.Retry?.length, name).toBeGreaterThan(0);
        expect(state.Catch?.at(-1)?.ErrorEquals, name).toEqual(['States.ALL']);
      }
    });

    it("sends a StepFailedError straight to the Fail state, since the step has notified, and every other error to the failure notification", () => {
      for (const [name, state] of tasks.filter(([n, s]) => s.Resource?.endsWith('.Arn>') && n !== 'CanaryCheck' && n !== 'AbortCanary')) {
        expect(state.Catch, name).toEqual([
          { ErrorEquals: ['StepFailedError'], ResultPath: '$.error', Next: 'Failed' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' },
        ]);
      }
    });

    it('sends every failure of CanaryCheck to AbortCanary first, so that a failed check never leaves the canary taking traffic', () => {
      expect(definition.States.CanaryCheck?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'AbortCanary' }]);
      expect(definition.States.AbortCanary?.Resource).toBe(functionArn('abortCanary'));
    });

    it('after AbortCanary, ends a StepFailedError (already notified) in the Fail state and notifies every other error', () => {
      const notified = definition.States.FailureNotified!;

      expect(definition.States.AbortCanary?.Next).toBe('FailureNotified');
      expect(notified.Choices).toEqual([{ Variable: '$.error.Error', StringEquals: 'StepFailedError', Next: 'Failed' }]);
      expect(notified.Default).toBe('NotifyFailure');
    });

    it("retries AbortCanary on Lambda service errors and, if it fails for good, still notifies, keeping the check's error", () => {
      const abort = definition.States.AbortCanary!;

      expect(abort.Retry?.[0]?.ErrorEquals).toContain('Lambda.ServiceException');
      expect(abort.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.abortError', Next: 'NotifyFailure' }]);
    });

    it('publishes the failure, with the execution, its input and the error, to the topic, then ends in the Fail state', () => {
      const notifyFailure = definition.States.NotifyFailure!;

      expect(notifyFailure).toMatchObject({
        Type: 'Task',
        Resource: 'arn:<AWS::Partition>:states:::sns:publish',
        Parameters: {
          TopicArn: expect.stringMatching(ALARM_TOPIC),
          Subject: 'MLOps retraining run failed',
          Message: expect.objectContaining({ 'execution.$': '$$.Execution.Id', 'input.$': '$$.Execution.Input', 'error.$': '$.error' }),
        },
        ResultPath: null,
        Next: 'Failed',
      });
      expect(notifyFailure.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.notifyError', Next: 'Failed' }]);
    });

    it('retries the failure notification on any task failure, since it is the last word of a failed run', () => {
      expect(definition.States.NotifyFailure?.Retry).toEqual([{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 5, BackoffRate: 2, MaxAttempts: 3 }]);
    });

    it("ends a failed run in a Fail state that reports the step's error", () => {
      expect(definition.States.Failed).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: 'States.JsonToString($.error)' });
      const failStates = Object.values(definition.States).filter((s) => s.Type === 'Fail');
      expect(failStates).toHaveLength(1);
    });

    it('routes a rejected candidate to a notification and a success, never to Deploy', () => {
      const verdict = definition.States.Verdict!;

      expect(verdict.Choices).toEqual([{ Variable: '$.outcome', StringEquals: 'rejected', Next: 'NotifyRejected' }]);
      expect(mainPath(definition, 'NotifyRejected')).toEqual(['NotifyRejected', 'CandidateRejected']);
      expect(definition.States.CandidateRejected?.Type).toBe('Succeed');
      expect(reachable(definition, 'NotifyRejected')).not.toContain('Deploy');
    });

    it('reaches Deploy only through the Verdict, after Register', () => {
      const into = Object.entries(definition.States).filter(([, s]) => s.Next === 'Deploy' || s.Default === 'Deploy' || s.Choices?.some((c) => c.Next === 'Deploy'));

      expect(into.map(([name]) => name)).toEqual(['Verdict']);
    });
  });

  describe('functions', () => {
    const fns = propertiesOfAll(template, 'AWS::Lambda::Function');

    it('are one per handler of functions/pipeline/handler.ts: start and every step of the runner', () => {
      expect(fns.map((fn) => fn.Handler).sort()).toEqual(HANDLERS.map((h) => `index.${h}`).sort());
    });

    it('run Node.js 24 on arm64 with active X-Ray tracing', () => {
      template.allResourcesProperties('AWS::Lambda::Function', { Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
    });

    it('give train, evaluate and quantize 3008 MB, and the other steps 1024 MB', () => {
      for (const handler of HANDLERS) {
        const heavy = handler === 'train' || handler === 'evaluate' || handler === 'quantize';
        expect(propertiesOf(template, pipeline.functions.get(handler)!).MemorySize, handler).toBe(heavy ? 3008 : 1024);
      }
    });

    it('give train and quantize 15 minutes, and the other steps 5', () => {
      for (const handler of HANDLERS) {
        const long = handler === 'train' || handler === 'quantize';
        expect(propertiesOf(template, pipeline.functions.get(handler)!).Timeout, handler).toBe(long ? 900 : 300);
      }
    });

    it('load onnxruntime-node from one layer built for their runtime and architecture', () => {
      const [layerId] = Object.keys(template.findResources('AWS::Lambda::LayerVersion'));

      template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
      template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'], CompatibleRuntimes: ['nodejs24.x'] });
      template.allResourcesProperties('AWS::Lambda::Function', { Layers: [{ Ref: layerId }] });
    });

    it('get every variable of the pipeline env schema, with the config defaults', () => {
      for (const fn of fns) {
        const vars = variables(fn);

        expect(Object.keys(vars).sort()).toEqual([
          'AUTO_APPROVE',
          'CANARY_LATENCY_FACTOR',
          'CANARY_MAX_ERROR_RATE_INCREASE',
          'CANARY_MIN_REQUESTS',
          'CANARY_WEIGHT',
          'CANARY_WINDOW_SECONDS',
          'DATA_BUCKET',
          'EPOCHS',
          'MAX_DROP_POINTS',
          'MODEL_BUCKET',
          'NODE_OPTIONS',
          'NOTIFY_TOPIC_ARN',
          'QUANTIZE',
          'S3_FORCE_PATH_STYLE',
          'TRAINING_MODE',
        ]);
        expect(vars).toMatchObject({ AUTO_APPROVE: 'true', EPOCHS: '40', MAX_DROP_POINTS: '0.5', QUANTIZE: 'true', S3_FORCE_PATH_STYLE: 'false', TRAINING_MODE: 'builtin' });
        expect(vars).toMatchObject({ CANARY_WINDOW_SECONDS: '1800', CANARY_WEIGHT: '0.1', CANARY_MIN_REQUESTS: '100', CANARY_MAX_ERROR_RATE_INCREASE: '0.01', CANARY_LATENCY_FACTOR: '1.5' });
      }
    });

    it("name the storage stack's buckets and the notification topic", () => {
      for (const fn of fns) {
        const vars = variables(fn);

        expect(flattenCfnReference(vars.MODEL_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefModelBucket/);
        expect(flattenCfnReference(vars.DATA_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefDataBucket/);
        expect(vars.NOTIFY_TOPIC_ARN).toEqual(topicRef);
      }
    });
  });

  describe('notification topic', () => {
    it("is the alarms stack's on-call topic, so on-call gets one topic: the pipeline stack creates none", () => {
      expect(pipeline.notifyTopic).toBe(platform.alarms.alarmTopic);
      template.resourceCountIs('AWS::SNS::Topic', 0);
    });

    it('has no subscription of its own', () => {
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });
  });

  describe('trigger', () => {
    it("matches the monitor's Drift Confirmed events of the configured models", () => {
      expect(only(template, 'AWS::Events::Rule').EventPattern).toEqual({
        source: ['mlops.monitor'],
        'detail-type': ['Drift Confirmed'],
        detail: { model: ['demo'] },
      });
    });

    it('starts the state machine with the whole event as input, through a role of its own', () => {
      const rule = only(template, 'AWS::Events::Rule');

      expect(rule.Targets).toEqual([{ Id: expect.any(String), Arn: { Ref: logicalId(pipeline.stateMachine) }, RoleArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } }]);
    });

    it("lets EventBridge's role start executions of this state machine and do nothing else", () => {
      const eventRoles = propertiesOfAll(template, 'AWS::IAM::Role').filter((role) =>
        JSON.stringify(role.AssumeRolePolicyDocument).includes('events.amazonaws.com'),
      );
      const starts = statements(template).filter((s) => list(s.Action).includes('states:StartExecution'));

      expect(eventRoles).toHaveLength(1);
      expect(starts).toEqual([{ Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: logicalId(pipeline.stateMachine) } }]);
    });
  });

  describe('step permissions', () => {
    const s3 = statements(template).filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')));
    const policyOf = (handler: PipelineHandler) => pipeline.node.findChild(`${STATE_NAMES[handler]}Access`);
    const accessOf = (handler: PipelineHandler) => s3AccessOf(template, pipeline.functions.get(handler)!.role, BUCKETS);
    const stepStatements = (handler: PipelineHandler) => statementsOf(template, policyOf(handler));

    it('are one policy per step function, attached to its own role alone', () => {
      const roles = new Set(HANDLERS.map((h) => logicalId(pipeline.functions.get(h)!.role)));

      expect(roles.size).toBe(HANDLERS.length);
      for (const handler of HANDLERS) expect(propertiesOf(template, policyOf(handler)).Roles, handler).toEqual([{ Ref: logicalId(pipeline.functions.get(handler)!.role) }]);
    });

    it('allow exactly s3:GetObject, s3:PutObject and s3:ListBucket, and no s3 wildcard action', () => {
      const actions = new Set(s3.flatMap((s) => list(s.Action)));

      expect([...actions].sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
    });

    // What each step does (model-pipeline/pipeline/steps.ts, runner.ts): every step reads and
    // writes its run's state under pipeline/; lists are allowed under what it lists or reads.
    it.each([
      ['start', 'reads the registry (or lists the packages) to open the run', { get: ['data:pipeline/*', REGISTRIES], put: ['data:pipeline/*'], list: ['data:pipeline/*', MODELS] }],
      [
        'prepare',
        "reads the serving package, new labels and the serving version's dataset; writes train and holdout",
        { get: ['data:datasets/*', 'data:labels/*', 'data:pipeline/*', PACKAGES], put: ['data:pipeline/*'], list: ['data:datasets/*', 'data:labels/*', 'data:pipeline/*', MODELS] },
      ],
      ['train', 'claims a version, writes its package and dataset, records the candidate', { get: ['data:pipeline/*', MODELS], put: ['data:datasets/*', 'data:pipeline/*', MODELS], list: ['data:pipeline/*', MODELS] }],
      ['evaluate', 'reads both packages and the holdout', { get: ['data:pipeline/*', PACKAGES], put: ['data:pipeline/*'], list: ['data:pipeline/*', MODELS] }],
      ['quantize', "adds the int8 model to the candidate's package", { get: ['data:pipeline/*', PACKAGES], put: ['data:pipeline/*', PACKAGES], list: ['data:pipeline/*', MODELS] }],
      ['gate', "decides on the run's state alone", { get: ['data:pipeline/*'], put: ['data:pipeline/*'], list: ['data:pipeline/*'] }],
      ['register', 'records the verdict in the registry', { get: ['data:pipeline/*', REGISTRIES], put: ['data:pipeline/*', REGISTRIES], list: ['data:pipeline/*', REGISTRIES] }],
      ['deploy', 'starts the canary or promotes, after listing the versions', { get: ['data:pipeline/*', REGISTRIES], put: ['data:pipeline/*', REGISTRIES], list: ['data:pipeline/*', MODELS] }],
      [
        'canaryCheck',
        "reads both versions' capture; promotes or rolls back in the registry",
        { get: ['data:capture/*', 'data:pipeline/*', REGISTRIES], put: ['data:pipeline/*', REGISTRIES], list: ['data:capture/*', 'data:pipeline/*', REGISTRIES] },
      ],
      ['notify', "sends the run's summary", { get: ['data:pipeline/*'], put: ['data:pipeline/*'], list: ['data:pipeline/*'] }],
      ['abortCanary', 'ends the canary in the registry', { get: ['data:pipeline/*', REGISTRIES], put: ['data:pipeline/*', REGISTRIES], list: ['data:pipeline/*', REGISTRIES] }],
    ] as const)('let %s do in S3 what the step does and nothing else: it %s', (handler, _does, expected) => {
      expect(accessOf(handler)).toEqual({ 's3:GetObject': expected.get, 's3:PutObject': expected.put, 's3:ListBucket': expected.list });
    });

    it('let only Train put any key under models/ (packages, version claims, registries): with the built-in trainer', () => {
      expect(stepsAllowedOnModels(template, pipeline, 's3:PutObject', (key) => key === 'models/*' || key === '*')).toEqual(['Train']);
    });

    it('let only the steps that write packages or registries put objects under models/', () => {
      expect(stepsAllowedOnModels(template, pipeline, 's3:PutObject', () => true)).toEqual(['AbortCanary', 'CanaryCheck', 'Deploy', 'Quantize', 'Register', 'Train']);
    });

    it('let only Train and Quantize write package files; Register, Deploy, CanaryCheck and AbortCanary write registries only', () => {
      expect(stepsAllowedOnModels(template, pipeline, 's3:PutObject', (key) => !key.endsWith('/registry.json'))).toEqual(['Quantize', 'Train']);
    });

    it('leave Start, Prepare, Evaluate, Gate and Notify unable to write the model bucket', () => {
      const writers = new Set(stepsAllowedOnModels(template, pipeline, 's3:PutObject', () => true));

      expect(['Start', 'Prepare', 'Evaluate', 'Gate', 'Notify'].filter((step) => writers.has(step))).toEqual([]);
    });

    it('give no object access to a whole bucket: every object resource ends with one of the pipeline key patterns', () => {
      const objectResources = s3.flatMap((s) => list(s.Resource).map(flattenCfnReference)).filter((r) => r.includes('/'));

      for (const resource of objectResources) expect(resource).toMatch(/\/(models\/\*|models\/\*\/\*\/\*|models\/\*\/registry\.json|(labels|datasets|pipeline|capture)\/\*)$/);
      expect(objectResources.length).toBeGreaterThan(0);
    });

    it("allow kms:Decrypt and kms:GenerateDataKey on the platform key only through S3, and on the alarm topic's key only through SNS", () => {
      for (const handler of HANDLERS) {
        const kms = stepStatements(handler).filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));
        const notifies = !['start', 'abortCanary'].includes(handler);

        expect(kms, handler).toEqual([
          { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: PLATFORM_KEY, Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
          ...(notifies ? [{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: ALARM_TOPIC_KEY, Condition: { StringEquals: { 'kms:ViaService': 'sns.us-east-1.amazonaws.com' } } }] : []),
        ]);
      }
    });

    it('allow sns:Publish only to the notification topic, and only to the steps that notify when they fail', () => {
      const publishers = HANDLERS.filter((h) => stepStatements(h).some((s) => list(s.Action).includes('sns:Publish')));

      expect(publishers.map((h) => STATE_NAMES[h]).sort()).toEqual(['CanaryCheck', 'Deploy', 'Evaluate', 'Gate', 'Notify', 'Prepare', 'Quantize', 'Register', 'Train']);
      for (const handler of publishers) expect(stepStatements(handler).filter((s) => list(s.Action).includes('sns:Publish')), handler).toEqual([{ Effect: 'Allow', Action: 'sns:Publish', Resource: topicRef }]);
    });

    it('allow nothing outside s3, kms and sns', () => {
      for (const handler of HANDLERS) expect(new Set(stepStatements(handler).flatMap((s) => list(s.Action).map((a) => String(a).split(':')[0]))), handler).toEqual(new Set(handler === 'start' || handler === 'abortCanary' ? ['s3', 'kms'] : ['s3', 'kms', 'sns']));
    });
  });

  describe('state machine permissions', () => {
    const role = pipeline.stateMachine.role;
    const smStatements = statementsOf(template, role.node.findChild('DefaultPolicy'));

    it('allow lambda:InvokeFunction on the pipeline functions (and their versions) only', () => {
      const invoke = smStatements.filter((s) => list(s.Action).includes('lambda:InvokeFunction'));
      const arns = HANDLERS.map(functionArn);

      expect(invoke.flatMap((s) => list(s.Resource).map(flattenCfnReference)).sort()).toEqual([...arns, ...arns.map((arn) => `${arn}:*`)].sort());
    });

    it('allow sns:Publish to the notification topic, with its key only through SNS', () => {
      expect(smStatements).toEqual(
        expect.arrayContaining([
          { Effect: 'Allow', Action: 'sns:Publish', Resource: topicRef },
          { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: ALARM_TOPIC_KEY, Condition: { StringEquals: { 'kms:ViaService': 'sns.us-east-1.amazonaws.com' } } },
        ]),
      );
    });

    it('allow "*" only for log delivery and X-Ray, which take no resource', () => {
      const star = smStatements.filter((s) => s.Resource === '*');

      expect(star).toHaveLength(1);
      for (const action of list(star[0]?.Action)) expect(String(action)).toMatch(/^(logs:\w+LogDelivery|logs:ListLogDeliveries|logs:\w+ResourcePolic(y|ies)|logs:DescribeLogGroups|xray:\w+)$/);
    });

    it('allow no S3 access', () => {
      expect(smStatements.flatMap((s) => list(s.Action)).filter((a) => String(a).startsWith('s3:'))).toEqual([]);
    });
  });

  it('outputs the state machine ARN, the topic ARN and a manual start command', () => {
    const manual = template.findOutputs('ManualStart').ManualStart?.Value;

    template.hasOutput('StateMachineArn', { Value: { Ref: logicalId(pipeline.stateMachine) } });
    template.hasOutput('NotifyTopicArn', { Value: { 'Fn::ImportValue': Match.stringLikeRegexp(ALARM_TOPIC.source) } });
    expect(manual).toEqual({
      'Fn::Join': [
        '',
        [
          'aws stepfunctions start-execution --state-machine-arn ',
          { Ref: logicalId(pipeline.stateMachine) },
          ` --input '{"model":"demo","runId":"manual-1","trigger":{"kind":"manual","reason":"retrained by hand"}}'`,
        ],
      ],
    });
    expect(template.findOutputs('ManualPromotion')).toEqual({});
  });
});

describe('PipelineStack settings', () => {
  it('passes maxDropPoints, epochs and quantize to every function', () => {
    const { template } = synthPlatform({ maxDropPoints: 1.5, epochs: 10, quantize: false });

    for (const fn of propertiesOfAll(template, 'AWS::Lambda::Function')) {
      expect(variables(fn)).toMatchObject({ MAX_DROP_POINTS: '1.5', EPOCHS: '10', QUANTIZE: 'false' });
    }
  });

  it('gives train, evaluate and quantize the configured memory, and leaves the others at 1024 MB', () => {
    const { template } = synthPlatform({ trainMemoryMb: 6144 });

    expect(propertiesOfAll(template, 'AWS::Lambda::Function').map((fn) => fn.MemorySize).sort()).toEqual([1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 6144, 6144, 6144]);
  });

  it('with manualApproval, sets AUTO_APPROVE=false, so Deploy leaves the candidate approved, and outputs the promote command', () => {
    const { template } = synthPlatform({ manualApproval: true });
    const promote = flattenCfnReference(template.findOutputs('ManualPromotion').ManualPromotion?.Value);

    for (const fn of propertiesOfAll(template, 'AWS::Lambda::Function')) expect(variables(fn).AUTO_APPROVE).toBe('false');
    expect(promote).toMatch(/^npx mlops models promote demo <version> --repo s3:\/\/Mlops-test-Storage:ExportsOutputRefModelBucket\w+$/);
  });

  it('with manualApproval, keeps the same states: approval is a registry change, with no task token to wait for', () => {
    const { template } = synthPlatform({ manualApproval: true });
    const states = Object.keys(definitionOf(template).States).sort();

    expect(states).toEqual(Object.keys(definitionOf(synthPlatform().template).States).sort());
    expect(JSON.stringify(definitionOf(template))).not.toContain('waitForTaskToken');
  });

  it("reaches the alarm email through the alarms stack's on-call topic, with no second subscription", () => {
    const { platform, template } = synthPlatform({}, { alarmEmail: 'oncall@example.com' });

    Template.fromStack(platform.alarms).hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('with canary settings, passes them to the functions and waits the check interval', () => {
    const { template } = synthPlatform({ canary: { weight: 0.25, windowMinutes: 60, checkMinutes: 2, minRequests: 500, maxErrorRateIncrease: 0.02, latencyFactor: 2 } });

    for (const fn of propertiesOfAll(template, 'AWS::Lambda::Function')) {
      expect(variables(fn)).toMatchObject({ CANARY_WINDOW_SECONDS: '3600', CANARY_WEIGHT: '0.25', CANARY_MIN_REQUESTS: '500', CANARY_MAX_ERROR_RATE_INCREASE: '0.02', CANARY_LATENCY_FACTOR: '2' });
    }
    expect(definitionOf(template).States.CanaryWait).toMatchObject({ Type: 'Wait', Seconds: 120 });
  });

  it('with the canary disabled, goes from Deploy straight to Notify and has no CanaryCheck', () => {
    const { template } = synthPlatform({ canary: { enabled: false } });
    const definition = definitionOf(template);

    expect(mainPath(definition, 'Deploy')).toEqual(['Deploy', 'Notify', 'Done']);
    expect(definition.States).not.toHaveProperty('CanaryCheck');
    for (const fn of propertiesOfAll(template, 'AWS::Lambda::Function')) expect(variables(fn).CANARY_WINDOW_SECONDS).toBe('0');
  });

  it('lets only the canary check read CloudWatch metrics, with GetMetricData and nothing else of CloudWatch', () => {
    const { stack, template } = synthPlatform();
    const policy = statementsOf(template, stack.pipeline.node.findChild('CanaryCheckMetrics'));
    const cloudWatch = statements(template).filter((s) => list(s.Action).some((a) => String(a).startsWith('cloudwatch:')));

    expect(cloudWatch).toEqual([{ Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' }]);
    expect(policy).toContainEqual(cloudWatch[0]);
    expect((propertiesOf(template, stack.pipeline.node.findChild('CanaryCheckMetrics')).Roles as Array<{ Ref: string }>).map((r) => r.Ref)).toEqual([
      logicalId(stack.pipeline.functions.get('canaryCheck')!.role),
    ]);
  });

  it('starts on drift of every configured model', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const { pipeline } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }, { name: 'fraud', servingMode: 'gpu' }] }));

    Template.fromStack(pipeline!).hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ detail: { model: ['demo', 'fraud'] } }) });
  });

  it("grants KMS use only on the alarm topic's key, through SNS, when the buckets use S3-managed keys", () => {
    const { template } = synthPlatform({}, { storage: { useKmsKey: false } });
    const kms = statements(template).filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));

    expect(kms.length).toBeGreaterThan(0);
    for (const statement of kms) expect(statement).toMatchObject({ Resource: ALARM_TOPIC_KEY, Condition: { StringEquals: { 'kms:ViaService': 'sns.us-east-1.amazonaws.com' } } });
  });

  it('creates its own encrypted, TLS-only topic when it is given none (the construct on its own)', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Own', { env: { region: 'us-east-1' } });
    new RetrainingPipeline(stack, 'Pipeline', { modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'), dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket') });
    const template = Template.fromStack(stack);

    expect(JSON.stringify(only(template, 'AWS::SNS::Topic').KmsMasterKeyId)).toContain(':alias/aws/sns');
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('is left out when no model is configured', () => {
    const app = testApp({ builtinCloudFormationValidation: false });

    expect(addPlatformStacks(app, parseConfig({ stage: 'test' })).pipeline).toBeUndefined();
  });
});

describe('PipelineStack with a SageMaker training job (pipeline.training.mode "sagemaker")', () => {
  const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-trainer:2.1';
  const { stack, template } = synthPlatform({ training: { mode: 'sagemaker', image: IMAGE, instanceType: 'ml.c5.2xlarge', maxRuntimeMinutes: 90, hyperparameters: { epochs: '30' } } });
  const { pipeline } = stack;
  const definition = definitionOf(template);
  const job = definition.States.TrainingJob!;
  const parameters = job.Parameters as Record<string, any>;
  const role = pipeline.trainingJobRole!;
  const jobStatements = statementsOf(template, pipeline.node.findChild('TrainingJobAccess'));
  const allowed = (action: string) => jobStatements.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource).map(flattenCfnReference));

  it('lets only ImportArtifact put any key under models/ (packages, version claims, registries), in place of Train', () => {
    expect(stepsAllowedOnModels(template, pipeline, 's3:PutObject', (key) => key === 'models/*' || key === '*')).toEqual(['ImportArtifact']);
  });

  it('lets only the steps that write packages or registries put objects under models/', () => {
    expect(stepsAllowedOnModels(template, pipeline, 's3:PutObject', () => true)).toEqual(['AbortCanary', 'CanaryCheck', 'Deploy', 'ImportArtifact', 'Quantize', 'Register']);
  });

  it('runs Start → Prepare → AlreadyTrained, then TrainingJob → ImportArtifact → Evaluate → … → Verdict', () => {
    expect(mainPath(definition)).toEqual(['Start', 'Prepare', 'AlreadyTrained']);
    expect(definition.States.AlreadyTrained?.Default).toBe('TrainingJob');
    expect(mainPath(definition, 'TrainingJob')).toEqual(['TrainingJob', 'ImportArtifact', 'Evaluate', 'Quantize', 'Gate', 'Register', 'Verdict']);
    expect(definition.States.Train).toBeUndefined();
  });

  it('sends a resumed run whose job already ran straight to ImportArtifact, since job names are unique', () => {
    expect(definition.States.AlreadyTrained?.Choices).toEqual([{ Variable: '$.trainingJob.trained', IsPresent: true, Next: 'ImportArtifact' }]);
  });

  it('waits for the job (createTrainingJob.sync) and names it from Prepare\'s output', () => {
    expect(job.Resource).toBe('arn:<AWS::Partition>:states:::sagemaker:createTrainingJob.sync');
    expect(parameters['TrainingJobName.$']).toBe('$.trainingJob.name');
  });

  it('runs the configured image on the configured instance type, volume and runtime', () => {
    expect(parameters.AlgorithmSpecification).toEqual({ TrainingImage: IMAGE, TrainingInputMode: 'File' });
    expect(parameters.ResourceConfig).toMatchObject({ InstanceCount: 1, InstanceType: 'ml.c5.2xlarge', VolumeSizeInGB: 30 });
    expect(parameters.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 5400 });
  });

  it('reads the train and holdout channels (CSV) from the S3 URIs Prepare returns, and writes under its output path', () => {
    expect(parameters.InputDataConfig).toEqual(
      ['train', 'holdout'].map((channel) => ({
        ChannelName: channel,
        ContentType: 'text/csv',
        DataSource: { S3DataSource: { 'S3Uri.$': `$.trainingJob.${channel}`, S3DataType: 'S3Prefix' } },
      })),
    );
    expect(parameters.OutputDataConfig['S3OutputPath.$']).toBe('$.trainingJob.output');
  });

  it('encrypts the model artifact and the ML volume with the platform key', () => {
    expect(parameters.OutputDataConfig.KmsKeyId).toMatch(/^Mlops-test-Storage:ExportsOutputFnGetAttKey/);
    expect(parameters.ResourceConfig.VolumeKmsKeyId).toMatch(/^Mlops-test-Storage:ExportsOutputFnGetAttKey/);
  });

  it("passes the configured hyperparameters and the platform's own (label, features, classes) from Prepare's output", () => {
    expect(parameters.HyperParameters).toEqual({
      epochs: '30',
      'label_column.$': '$.trainingJob.hyperparameters.label_column',
      'feature_names.$': '$.trainingJob.hyperparameters.feature_names',
      'features.$': '$.trainingJob.hyperparameters.features',
      'classes.$': '$.trainingJob.hyperparameters.classes',
    });
    expect(parameters.Environment).toMatchObject({ SM_CHANNEL_TRAIN: '/opt/ml/input/data/train', SM_MODEL_DIR: '/opt/ml/model' });
  });

  it('keeps the state and puts the job name and artifact URI at $.trainingJob.trained for ImportArtifact', () => {
    expect(job.ResultPath).toBe('$.trainingJob.trained');
    expect((job as unknown as { ResultSelector: unknown }).ResultSelector).toEqual({ 'job.$': '$.TrainingJobName', 'artifact.$': '$.ModelArtifacts.S3ModelArtifacts' });
  });

  it('retries SageMaker throttling, quota and internal errors, and sends every failure to the failure notification', () => {
    expect(job.Retry).toEqual([
      {
        ErrorEquals: ['SageMaker.AmazonSageMakerException', 'SageMaker.ThrottlingException', 'SageMaker.ResourceLimitExceededException', 'SageMaker.InternalServerError'],
        IntervalSeconds: 5,
        BackoffRate: 2,
        MaxAttempts: 3,
      },
    ]);
    expect(job.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }]);
  });

  it('gives every task, the training job and ImportArtifact included, a Retry and a Catch of States.ALL', () => {
    const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');

    expect(tasks.map(([name]) => name)).toEqual(expect.arrayContaining(['TrainingJob', 'ImportArtifact', 'AbortCanary']));
    for (const [name, state] of tasks) {
      expect(state.Retry?.length, name).toBeGreaterThan(0);
      expect(state.Catch?.at(-1)?.ErrorEquals, name).toEqual(['States.ALL']);
    }
  });

  it('has an ImportArtifact function instead of the Train function, and tells Prepare the mode', () => {
    const handlers = propertiesOfAll(template, 'AWS::Lambda::Function').map((fn) => fn.Handler);

    expect(handlers).toContain('index.importArtifact');
    expect(handlers).not.toContain('index.train');
    expect(definition.States.ImportArtifact?.Resource).toBe(`<${logicalId(pipeline.functions.get('importArtifact')!)}.Arn>`);
    for (const fn of propertiesOfAll(template, 'AWS::Lambda::Function')) expect(variables(fn).TRAINING_MODE).toBe('sagemaker');
  });

  it('runs the job under a role of its own that only SageMaker can assume', () => {
    expect(propertiesOf(template, role).AssumeRolePolicyDocument).toMatchObject({ Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'sagemaker.amazonaws.com' } }] });
  });

  it("lets the job read only the runs' train and holdout CSV, and write only under their training/ prefix", () => {
    expect(allowed('s3:GetObject')).toEqual([dataObjectsAt('pipeline/*/holdout.csv'), dataObjectsAt('pipeline/*/train.csv')]);
    expect(allowed('s3:PutObject')).toEqual([dataObjectsAt('pipeline/*/training/*')]);
    expect(jobStatements.find((s) => list(s.Action).includes('s3:ListBucket'))?.Condition).toEqual({ StringLike: { 's3:prefix': ['pipeline/*'] } });
  });

  it('grants the job role no S3 access beyond its own policy (no "*" resource from the task)', () => {
    const roleStatements = statements(template).filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')) && list(s.Resource).includes('*'));

    expect(roleStatements).toEqual([]);
  });

  it("lets the job pull only the configured image's repository", () => {
    expect(allowed('ecr:BatchGetImage')).toEqual(['arn:aws:ecr:us-east-1:123456789012:repository/churn-trainer']);
  });

  it('lets the state machine pass the job role to SageMaker only', () => {
    const smStatements = statementsOf(template, pipeline.stateMachine.role.node.findChild('DefaultPolicy'));

    expect(smStatements).toContainEqual({
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: { 'Fn::GetAtt': [logicalId(role), 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
    });
  });
});

describe('RetrainingPipeline with a training job', () => {
  const props = () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test', { env: { region: 'eu-west-1', account: '210987654321' } });
    return { stack, modelBucket: new Bucket(stack, 'Models'), dataBucket: new Bucket(stack, 'Data') };
  };

  it("fills {account}, {region} and {urlSuffix} of the image with the stack's, and scopes the ECR pull to that repository", () => {
    const { stack, ...buckets } = props();
    new RetrainingPipeline(stack, 'Pipeline', { ...buckets, training: { image: '{account}.dkr.ecr.{region}.{urlSuffix}/trainer:1' } });
    const definition = definitionOf(Template.fromStack(stack));

    expect((definition.States.TrainingJob?.Parameters as { AlgorithmSpecification: { TrainingImage: string } }).AlgorithmSpecification.TrainingImage).toBe('210987654321.dkr.ecr.eu-west-1.amazonaws.com/trainer:1');
    expect(resourcesAllowed(Template.fromStack(stack), 'ecr:BatchGetImage')).toEqual(['arn:aws:ecr:eu-west-1:210987654321:repository/trainer']);
  });

  it('refuses hyperparameters the platform sets, naming them', () => {
    const { stack, ...buckets } = props();

    expect(() => new RetrainingPipeline(stack, 'Pipeline', { ...buckets, training: { image: '210987654321.dkr.ecr.eu-west-1.amazonaws.com/trainer:1', hyperparameters: { label_column: 'x' } } })).toThrow(
      'training.hyperparameters label_column are set by the platform',
    );
  });

  it('refuses an image that is not an ECR URI, showing it', () => {
    const { stack, ...buckets } = props();

    expect(() => new RetrainingPipeline(stack, 'Pipeline', { ...buckets, training: { image: 'docker.io/me/trainer:1' } })).toThrow('(received docker.io/me/trainer:1)');
  });
});

describe('RetrainingPipeline', () => {
  function construct(extra: Partial<ConstructorParameters<typeof RetrainingPipeline>[2]> = {}): { stack: Stack; pipeline: RetrainingPipeline } {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test', { env: { region: 'us-east-1' } });
    const pipeline = new RetrainingPipeline(stack, 'Pipeline', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      ...extra,
    });
    return { stack, pipeline };
  }

  it('publishes to the topic it is given, creating none, and may use its key only through SNS', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test', { env: { region: 'us-east-1' } });
    const key = Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:123456789012:key/abcd');
    const topic = Topic.fromTopicAttributes(stack, 'Alarms', { topicArn: 'arn:aws:sns:us-east-1:123456789012:alarms', keyArn: key.keyArn });
    new RetrainingPipeline(stack, 'Pipeline', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      notifyTopic: topic,
    });
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.allResourcesProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ NOTIFY_TOPIC_ARN: topic.topicArn }) } });
    // The nine steps that notify when they fail, and the state machine's failure notification.
    expect(resourcesAllowed(template, 'sns:Publish')).toEqual(Array(10).fill(topic.topicArn));
    expect(statements(template).filter((s) => list(s.Action).includes('kms:GenerateDataKey'))).toEqual(
      Array(10).fill(expect.objectContaining({ Resource: key.keyArn, Condition: { StringEquals: { 'kms:ViaService': 'sns.us-east-1.amazonaws.com' } } })),
    );
  });

  it('starts on drift of any model when given no model names', () => {
    const { stack } = construct();

    expect(only(Template.fromStack(stack), 'AWS::Events::Rule').EventPattern).toEqual({ source: ['mlops.monitor'], 'detail-type': ['Drift Confirmed'] });
  });

  it('rejects a maxDropPoints outside 0 to 100, showing the value', () => {
    expect(() => construct({ maxDropPoints: -1 })).toThrow(/maxDropPoints must be between 0 and 100 \(received -1\)/);
  });

  it('rejects epochs below 1, showing the value', () => {
    expect(() => construct({ epochs: 0 })).toThrow(/epochs must be a whole number of at least 1 \(received 0\)/);
  });

  it("rejects a memory size outside Lambda's range, showing the value", () => {
    expect(() => construct({ trainMemorySize: 20000 })).toThrow(/trainMemorySize must be a whole number of MB from 128 to 10240.*\(received 20000\)/);
  });

  it('rejects an empty list of model names', () => {
    expect(() => construct({ modelNames: [] })).toThrow(/modelNames must name at least one model when given \(received \[\]\)/);
  });
});

describe('cdk-nag', () => {
  function nagApp(config: object = {}): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], ...config }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding with the platform key', () => {
    expect(unacknowledgedFindings(nagApp())).toEqual([]);
  });

  it('reports no unacknowledged finding with a SageMaker training job, with the platform key and with S3-managed encryption', () => {
    const training = { mode: 'sagemaker', image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1' };

    expect(unacknowledgedFindings(nagApp({ pipeline: { training } }))).toEqual([]);
    expect(unacknowledgedFindings(nagApp({ pipeline: { training }, storage: { useKmsKey: false } }))).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed encryption, manual approval and an alarm email', () => {
    const config = { storage: { useKmsKey: false }, pipeline: { manualApproval: true }, alarmEmail: 'oncall@example.com' };

    expect(unacknowledgedFindings(nagApp(config))).toEqual([]);
  });

  describe('acknowledgements', () => {
    const app = nagApp();
    unacknowledgedFindings(app);
    const acks = acknowledgements(app)
      .filter((a) => a.path.startsWith('Mlops-test-Pipeline/'))
      .map((a) => ({ ...a, id: a.id.replace(/^Annotation::/, '') }));

    it("name in each step's policy the wildcards of its own key patterns, by their exact resources, and no other", () => {
      const pipelineStack = app.node.findChild('Mlops-test-Pipeline') as Stack;
      const template = Template.fromStack(pipelineStack);
      const pipeline = (pipelineStack as PipelineStack).pipeline;

      for (const handler of HANDLERS) {
        const policy = pipeline.node.findChild(`${STATE_NAMES[handler]}Access`);
        const wildcards = statementsOf(template, policy)
          .flatMap((st) => list(st.Resource).map(flattenCfnReference))
          .filter((r) => r.includes('*'))
          .map((r) => `AwsSolutions-IAM5[Resource::${r}]`);
        const ids = acks.filter((a) => a.path === policy.node.path).map((a) => a.id);

        expect(ids.sort(), handler).toEqual([...new Set(wildcards)].sort());
        expect(ids.length, handler).toBeGreaterThan(0);
      }
    });

    it("name the state machine's invoke wildcards, one per function's qualified ARNs", () => {
      const ids = acks.filter((a) => a.path === 'Mlops-test-Pipeline/Pipeline/StateMachine/Role/DefaultPolicy').map((a) => a.id);

      expect(ids).toHaveLength(HANDLERS.length);
      for (const id of ids) expect(id).toMatch(/^AwsSolutions-IAM5\[Resource::<Pipeline\w+Function\w+\.Arn>:\*\]$/);
    });

    it("name GetMetricData's \"*\" (CloudWatch metrics have no ARNs) in the canary check's metrics policy, and nothing else", () => {
      const ids = acks.filter((a) => a.path === 'Mlops-test-Pipeline/Pipeline/CanaryCheckMetrics').map((a) => a.id).sort();

      expect(ids).toEqual(['AwsSolutions-IAM5[Resource::*]']);
    });

    it('acknowledge nothing else but "*" resources of X-Ray and log delivery', () => {
      const stepPolicies = HANDLERS.map((h) => `Mlops-test-Pipeline/Pipeline/${STATE_NAMES[h]}Access`);
      const others = acks.filter((a) => !stepPolicies.includes(a.path) && !a.path.endsWith('/StateMachine/Role/DefaultPolicy'));

      expect([...new Set(others.map((a) => a.id))]).toEqual(['AwsSolutions-IAM5[Resource::*]']);
    });
  });
});

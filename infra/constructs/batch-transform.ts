import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import {
  Choice,
  Condition,
  Errors,
  Fail,
  IntegrationPattern,
  JsonPath,
  StateMachine,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { AssembleWith, BatchStrategy, LambdaInvoke, SageMakerCreateTransformJob, SplitType } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DataPrefixes, ModelLayout } from '../../core/layout';
import { PackageFiles } from '../../core/model/manifest';
import { keyUseVia, listUnder } from '../iam';
import { acknowledgeWildcardResources } from '../nag';
import { loggedStateMachine } from '../state-machine';
import { type GpuEndpoint, hasInstanceStorage } from './gpu-endpoint';
import { MlopsFunction } from './mlops-function';
import { deadLetterQueue } from './dead-letter-queue';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/batch-transform/handler.ts', import.meta.url));

/** A GPU model whose batch files a transform job scores on its endpoint's Triton model. */
export interface TransformedModel {
  readonly modelName: string;
  /** The package version the endpoint's Triton model serves. */
  readonly modelVersion: string;
  readonly endpoint: GpuEndpoint;
}

/** Properties of a {@link BatchTransform}. */
export interface BatchTransformProps {
  readonly models: readonly TransformedModel[];
  /** Bucket of the model packages: the steps read the served versions' manifests. */
  readonly modelBucket: IBucket;
  /**
   * Bucket of the batch files, as for the batch Lambda (batch/input/, batch/output/, …). It must
   * send its events to EventBridge (`eventBridgeEnabled`), as the storage stack's data bucket does.
   */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Instance type of the transform jobs.
   * @default 'ml.g5.xlarge'
   */
  readonly instanceType?: string;
  /**
   * Instances of one transform job.
   * @default 1
   */
  readonly instanceCount?: number;
  /**
   * Rows per request line; at most the Triton model's max_batch_size.
   * @default 1024
   */
  readonly rowsPerRequest?: number;
  /**
   * Largest request line (MaxPayloadInMB).
   * @default Size.mebibytes(6)
   */
  readonly maxPayload?: Size;
  /**
   * Longest one transform may run before the execution fails (and writes a failed manifest).
   * @default Duration.hours(6)
   */
  readonly timeout?: Duration;
  /**
   * Where the alarms are sent.
   * @default - the alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long function and execution logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Batch scoring of GPU models' files by SageMaker Batch Transform on the endpoint's Triton model.
 * An EventBridge rule sends "Object Created" under `batch/input/<model>/` of these models to a
 * state machine (the batch Lambda skips them, see its TRANSFORM_MODELS): prepare (a Lambda
 * parses the file as the Lambda path does and writes OIP v2 request lines, one per chunk; bad
 * rows are left for the errors file) → CreateTransformJob (.sync; SplitType Line, one request a
 * line, answers assembled by line) → finalize (a Lambda replays the parse with the answers and
 * writes predictions, errors and the manifest as the Lambda path does). Every task retries, and
 * every failure writes a failed manifest that says why before the execution fails.
 */
export class BatchTransform extends Construct {
  public readonly function: MlopsFunction;
  public readonly stateMachine: StateMachine;
  /** The rule that starts an execution per input file of these models. */
  public readonly rule: Rule;
  /** Events the rule could not deliver. */
  public readonly deadLetterQueue: Queue;
  /** Fires when an execution fails (its manifest says why). */
  public readonly failedAlarm: Alarm;

  constructor(scope: Construct, id: string, props: BatchTransformProps) {
    super(scope, id);
    const instanceType = props.instanceType ?? 'ml.g5.xlarge';
    const instanceCount = props.instanceCount ?? 1;
    const rowsPerRequest = props.rowsPerRequest ?? 1024;
    const maxPayload = props.maxPayload ?? Size.mebibytes(6);
    const timeout = props.timeout ?? Duration.hours(6);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    if (props.models.length === 0) throw new Error('BatchTransform needs at least one model (received [])');
    if (!/^ml\.[a-z0-9]+\.[a-z0-9]+$/.test(instanceType)) throw new Error(`instanceType must be a SageMaker instance type such as ml.g5.xlarge (received ${instanceType})`);
    if (!Number.isInteger(rowsPerRequest) || rowsPerRequest < 1) throw new Error(`rowsPerRequest must be a whole number of at least 1 (received ${rowsPerRequest})`);

    // --- Steps ------------------------------------------------------------------------------------
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: 'Batch Transform steps of GPU models: prepare request lines, finalize outputs, record failures',
      // A file is parsed in one run, like the batch Lambda's.
      memorySize: 3008,
      timeout: Duration.minutes(15),
      architecture: Architecture.ARM_64,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        DATA_BUCKET: props.dataBucket.bucketName,
        MODEL_VERSIONS: Stack.of(this).toJsonString(Object.fromEntries(props.models.map((m) => [m.modelName, m.modelVersion]))),
        ROWS_PER_REQUEST: String(rowsPerRequest),
      },
    });
    this.grantStepAccess(props);

    const step = (stepId: string, payload: Record<string, unknown>, resultPath: string) =>
      new LambdaInvoke(this, stepId, {
        lambdaFunction: this.function,
        payload: TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultPath,
        // Steps are idempotent (keyed by the input's ETag and the model version): retrying is safe.
        retryOnServiceExceptions: true,
      }).addRetry({ errors: [Errors.TASKS_FAILED], maxAttempts: 2, interval: Duration.seconds(10), backoffRate: 2 });

    const key = JsonPath.stringAt('$.detail.object.key');
    const failed = new Fail(this, 'TransformFailed', { comment: 'The failed manifest says why.' });
    const failBefore = step('RecordPrepareFailure', { action: 'fail', key, error: JsonPath.objectAt('$.error') }, JsonPath.DISCARD).next(failed);
    const failAfter = step('RecordFailure', { action: 'fail', key, version: JsonPath.stringAt('$.prepared.version'), error: JsonPath.objectAt('$.error') }, JsonPath.DISCARD).next(failed);

    const prepare = step('Prepare', { action: 'prepare', key, execution: JsonPath.stringAt('$$.Execution.Name') }, '$.prepared');
    prepare.addCatch(failBefore, { errors: [Errors.ALL], resultPath: '$.error' });
    const finalize = step('Finalize', { action: 'finalize', prepared: JsonPath.objectAt('$.prepared') }, '$.outcome');
    finalize.addCatch(failAfter, { errors: [Errors.ALL], resultPath: '$.error' });

    const transforms = props.models.map((m) => {
      const transform = new SageMakerCreateTransformJob(this, `Transform${pascalCase(m.modelName)}`, {
        integrationPattern: IntegrationPattern.RUN_JOB,
        transformJobName: JsonPath.stringAt('$.prepared.jobName'),
        modelName: m.endpoint.model.attrModelName,
        // The endpoint's role: CreateTransformJob runs the model with it; without it CDK creates one with AmazonSageMakerFullAccess.
        role: m.endpoint.role,
        batchStrategy: BatchStrategy.SINGLE_RECORD,
        maxPayload,
        transformInput: {
          transformDataSource: { s3DataSource: { s3Uri: JsonPath.stringAt('$.prepared.requestsUri') } },
          contentType: 'application/json',
          splitType: SplitType.LINE,
        },
        transformOutput: { s3OutputPath: JsonPath.stringAt('$.prepared.outputUri'), accept: 'application/json', assembleWith: AssembleWith.LINE, encryptionKey: props.key },
        transformResources: {
          instanceCount,
          instanceType: new InstanceType(instanceType.replace(/^ml\./, '')),
          // Instance types with NVMe storage encrypt it in hardware and must not name a key.
          volumeEncryptionKey: hasInstanceStorage(instanceType) ? undefined : props.key,
        },
        resultPath: JsonPath.DISCARD,
      });
      // Throttled or refused before the job started: the same name may be tried again.
      transform.addRetry({ errors: ['SageMaker.AmazonSageMakerException'], maxAttempts: 3, interval: Duration.seconds(30), backoffRate: 2 });
      transform.addCatch(failAfter, { errors: [Errors.ALL], resultPath: '$.error' });
      return { model: m.modelName, transform: transform.next(finalize) };
    });
    const byModel = new Choice(this, 'TritonModel', { comment: 'The transform job runs on the model of the file\'s endpoint.' });
    for (const { model, transform } of transforms) byModel.when(Condition.stringMatches('$.detail.object.key', `${DataPrefixes.batchInput}${model}/*`), transform);
    byModel.otherwise(failAfter);

    const done = new Succeed(this, 'Done');
    finalize.next(done);
    const route = new Choice(this, 'Prepared', { comment: 'Skipped or failed inputs have their outcome already; no valid row needs no transform.' })
      .when(Condition.not(Condition.stringEquals('$.prepared.status', 'prepared')), done)
      .when(Condition.numberEquals('$.prepared.requests', 0), finalize)
      .otherwise(byModel);

    ({ stateMachine: this.stateMachine } = loggedStateMachine(this, {
      comment: 'Batch Transform of a GPU model\'s file: prepare → CreateTransformJob (.sync) → finalize; failures write a failed manifest',
      definition: prepare.next(route),
      timeout,
      logRetention,
      logRemovalPolicy,
      moreUnscopedActions: 'Likewise sagemaker:ListTags, which the .sync integration calls while it waits for the job.',
    }));
    this.acknowledgeStateMachineRole();
    this.grantTransformIo(props);

    // --- Trigger ------------------------------------------------------------------------------------
    this.deadLetterQueue = deadLetterQueue(this, 'the rule that starts Batch Transform executions');
    this.rule = new Rule(this, 'InputCreated', {
      description: `Objects created under ${DataPrefixes.batchInput}<model>/ of GPU models, for Batch Transform`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.dataBucket.bucketName] },
          object: { key: Match.anyOf(...props.models.map((m) => Match.prefix(`${DataPrefixes.batchInput}${m.modelName}/`))) },
        },
      },
      targets: [new SfnStateMachine(this.stateMachine, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });

    // --- Alarms -------------------------------------------------------------------------------------
    this.failedAlarm = new Alarm(this, 'FailedAlarm', {
      alarmDescription: 'A Batch Transform execution failed; the input\'s manifest under batch/manifests/ says why.',
      metric: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const undelivered = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'An input event of a GPU model could not start Batch Transform; the message names the input.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) for (const alarm of [this.failedAlarm, undelivered]) alarm.addAlarmAction(new SnsAction(props.alarmTopic));
  }

  /** What the steps do in the buckets: the batch Lambda's access, for these models' inputs and outputs. */
  private grantStepAccess(props: BatchTransformProps): void {
    const perModel = (prefix: string) => props.models.map((m) => `${prefix}${m.modelName}/*`);
    const [inputs, outputs, errors, manifests] = [DataPrefixes.batchInput, DataPrefixes.batchOutput, DataPrefixes.batchErrors, DataPrefixes.batchManifests].map(perModel) as [string[], string[], string[], string[]];
    const staging = `${DataPrefixes.batchStaging}*`;
    const data = (patterns: readonly string[]) => patterns.map((p) => props.dataBucket.arnForObjects(p));
    const statements = [
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: props.models.map((m) => props.modelBucket.arnForObjects(`${ModelLayout.package(m.modelName, m.modelVersion)}${PackageFiles.manifest}`)),
      }),
      // Under the prefixes read: S3 answers a missing key (no manifest yet) with 404 instead of 403
      // only to a principal that may list it.
      listUnder(props.dataBucket, [...inputs, ...manifests, staging]),
      new PolicyStatement({ actions: ['s3:GetObject'], resources: data([...inputs, ...manifests, staging]) }),
      // Request lines and outputs are staged, then copied into place; staged objects and leases are deleted.
      new PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'], resources: data([staging]) }),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: data([...outputs, ...errors, ...manifests]) }),
    ];
    if (props.key) statements.push(keyUseVia(props.key, 's3', Stack.of(this).region));
    const policy = new Policy(this, 'StepAccess', { statements, roles: [this.function.role] });
    acknowledgeWildcardResources(
      policy,
      [...inputs, ...outputs, ...errors, ...manifests, staging].map((p) => `/${p}`),
      'Object ARNs under one prefix per GPU model (inputs named by the data team, and the outputs, errors and ' +
        'manifests that mirror them) and the staging prefix, where requests, answers, staged outputs and leases ' +
        'are keyed by input, ETag and model version.',
    );
  }

  /** The Triton model reads the request lines and writes the answers of its own model's transforms, nothing else. */
  private grantTransformIo(props: BatchTransformProps): void {
    for (const m of props.models) {
      const prefix = `${DataPrefixes.batchStaging}transform/${m.modelName}/*`;
      const policy = new Policy(this, `TransformIo${pascalCase(m.modelName)}`, {
        roles: [m.endpoint.role],
        statements: [
          new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [props.dataBucket.arnForObjects(prefix)] }),
          // Batch Transform lists the input prefix to find its objects.
          new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.dataBucket.bucketArn], conditions: { StringLike: { 's3:prefix': [prefix] } } }),
        ],
      });
      acknowledgeWildcardResources(policy, [`/${prefix}`], `Batch Transform requests and answers of model ${m.modelName}, keyed by input, ETag and version under one prefix.`);
    }
  }

  /** The wildcards of the permissions Step Functions needs for Lambda invocations, X-Ray, logging and .sync transform jobs. */
  private acknowledgeStateMachineRole(): void {
    const role = this.stateMachine.role;
    const defaultPolicy = role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy instanceof Policy) {
      acknowledgeWildcardResources(
        defaultPolicy,
        [':*', ':transform-job/*'],
        "lambda:InvokeFunction on the qualified ARNs of the steps' own function, which Step Functions grants next to the " +
          'unqualified ARN, and Create/Describe/StopTransformJob on transform jobs, whose names are made per execution.',
      );
    }
  }
}

/** `fraud-v2` → `FraudV2`: a model name as a construct id. */
function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

import { fileURLToPath } from 'node:url';
import { ArnFormat, Duration, RemovalPolicy, Size, Stack, Token, Validations } from 'aws-cdk-lib';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, type IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import {
  Choice,
  Condition,
  Errors,
  Fail,
  type IChainable,
  IntegrationPattern,
  JsonPath,
  StateMachine,
  Succeed,
  TaskInput,
  type TaskStateBase,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { DockerImage, InputMode, LambdaInvoke, S3DataType, S3Location, type S3LocationConfig, SageMakerCreateTrainingJob, SnsPublish } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { keyUseVia, listUnder } from '../iam';
import { DataPrefixes, ModelLayout } from '../../core/layout';
import type { StepName } from '../../core/pipeline-steps';
import { RESERVED_HYPERPARAMETERS, TrainingContract } from '../../core/training-contract';
import { acknowledgeWildcardResources } from '../nag';
import { loggedStateMachine } from '../state-machine';
import { MlopsFunction } from './mlops-function';
import { OnnxRuntimeLayer } from './onnx-runtime-layer';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/pipeline/handler.ts', import.meta.url));

/**
 * The handlers `functions/pipeline/handler.ts` exports: `start`, one per pipeline step, and
 * `abortCanary` (the failure path of CanaryCheck).
 */
export type PipelineHandler = 'start' | StepName | 'abortCanary';

/** Source and detail type of the monitor's event on confirmed drift (functions/monitor/app.ts). */
export const DRIFT_EVENT = { source: 'mlops.monitor', detailType: 'Drift Confirmed' } as const;

/** The error a step throws after it has recorded its failure and notified (functions/pipeline/handler.ts). */
export const STEP_FAILED_ERROR = 'StepFailedError';

/**
 * Errors of the Lambda service itself (not of the function's code), which a new invocation can
 * get past. Every step is idempotent by run id, so invoking it again is safe.
 */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/**
 * Errors of the SageMaker API (throttling, a service quota, an internal error) as Step Functions
 * reports them for the training job task, before the job runs. A job that ran and failed ends the
 * task with States.TaskFailed, which is not retried: its name is taken.
 */
export const SAGEMAKER_TRANSIENT_ERRORS = [
  'SageMaker.AmazonSageMakerException',
  'SageMaker.ThrottlingException',
  'SageMaker.ResourceLimitExceededException',
  'SageMaker.InternalServerError',
] as const;

/** Retry settings of every task: 5 s, 10 s, 20 s. */
const RETRY = { interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 3 } as const;

interface HandlerSettings {
  /** The state's name in the state machine, and the prefix of the function's construct id. */
  readonly stateName: string;
  /** Trains or runs ONNX Runtime over the holdout: gets `trainMemorySize`. */
  readonly heavy: boolean;
  readonly timeout: Duration;
  readonly description: string;
}

/** Key patterns of the model bucket the steps use (core/layout.ts spells the keys). */
const ModelKeys = {
  /** Everything under models/: packages, version claims and registries. */
  all: `${ModelLayout.root}*`,
  /** The files of some version's package (IAM's * spans slashes, so also a version claim; never a registry). */
  packages: `${ModelLayout.package('*', '*')}*`,
  /** Each model's registry index. */
  registries: ModelLayout.registry('*'),
} as const;

/** Key patterns of the data bucket the steps use. */
const DataKeys = {
  /** Runs: state, train and holdout data, training job artifacts. */
  runs: `${DataPrefixes.pipeline}*`,
  labels: `${DataPrefixes.labels}*`,
  datasets: `${DataPrefixes.datasets}*`,
  capture: `${DataPrefixes.capture}*`,
} as const;

/** What one step does in the buckets (and with the topic), and so all its role may do. */
export interface StepAccess {
  /** The model bucket: keys read and written, and prefixes listed (a read of a missing key is a 404 only under them). */
  readonly models?: { readonly read: readonly string[]; readonly write?: readonly string[]; readonly list: readonly string[] };
  /** The data bucket: keys read (and listed, so that a missing one is a 404) and written. */
  readonly data: { readonly read: readonly string[]; readonly write: readonly string[] };
  /** Publishes notifications: every step run by the runner notifies when it fails. */
  readonly notifies: boolean;
}

const runState = { read: [DataKeys.runs], write: [DataKeys.runs] } as const;

/**
 * What each step does (model-pipeline/pipeline/steps.ts, runner.ts), and so all its role may do.
 * Every step reads and writes its run's state under pipeline/. Only the steps that write packages
 * (Train, ImportArtifact, Quantize) or registries (Register, Deploy, CanaryCheck, AbortCanary; Train
 * and ImportArtifact record the candidate) may write under models/, each only what it writes.
 */
export const STEP_ACCESS: Readonly<Record<PipelineHandler, StepAccess>> = {
  // Opens the run at the serving version: the registry, or the newest package when there is none.
  start: { models: { read: [ModelKeys.registries], list: [ModelKeys.all] }, data: runState, notifies: false },
  // Joins new labels with the serving version's training data; writes train and holdout.
  prepare: { models: { read: [ModelKeys.packages], list: [ModelKeys.all] }, data: { read: [DataKeys.labels, DataKeys.datasets, DataKeys.runs], write: [DataKeys.runs] }, notifies: true },
  // Claims a version, writes its package and training data, records it as candidate.
  train: { models: { read: [ModelKeys.all], write: [ModelKeys.all], list: [ModelKeys.all] }, data: { read: [DataKeys.runs], write: [DataKeys.runs, DataKeys.datasets] }, notifies: true },
  importArtifact: { models: { read: [ModelKeys.all], write: [ModelKeys.all], list: [ModelKeys.all] }, data: { read: [DataKeys.runs], write: [DataKeys.runs, DataKeys.datasets] }, notifies: true },
  // Scores candidate and serving version on the holdout.
  evaluate: { models: { read: [ModelKeys.packages], list: [ModelKeys.all] }, data: runState, notifies: true },
  // Adds the int8 model to the candidate's package.
  quantize: { models: { read: [ModelKeys.packages], write: [ModelKeys.packages], list: [ModelKeys.all] }, data: runState, notifies: true },
  // Decides on the evaluation in the run's state alone.
  gate: { data: runState, notifies: true },
  register: { models: { read: [ModelKeys.registries], write: [ModelKeys.registries], list: [ModelKeys.registries] }, data: runState, notifies: true },
  // Starts the canary or promotes (both check the version's package exists by listing).
  deploy: { models: { read: [ModelKeys.registries], write: [ModelKeys.registries], list: [ModelKeys.all] }, data: runState, notifies: true },
  // Reads both versions' capture; promotes or rolls back in the registry.
  canaryCheck: { models: { read: [ModelKeys.registries], write: [ModelKeys.registries], list: [ModelKeys.registries] }, data: { read: [DataKeys.runs, DataKeys.capture], write: [DataKeys.runs] }, notifies: true },
  notify: { data: runState, notifies: true },
  abortCanary: { models: { read: [ModelKeys.registries], write: [ModelKeys.registries], list: [ModelKeys.registries] }, data: runState, notifies: false },
};

/** One function per handler; typed by the runner's step names, so a new step cannot be forgotten here. */
const HANDLERS: Readonly<Record<PipelineHandler, HandlerSettings>> = {
  start: { stateName: 'Start', heavy: false, timeout: Duration.minutes(5), description: 'opens (or reopens) a run from a drift event or a manual start' },
  prepare: { stateName: 'Prepare', heavy: false, timeout: Duration.minutes(5), description: 'joins new labelled rows with the serving version\'s data; writes train and holdout' },
  train: { stateName: 'Train', heavy: true, timeout: Duration.minutes(15), description: 'trains the candidate version and writes its package' },
  importArtifact: { stateName: 'ImportArtifact', heavy: true, timeout: Duration.minutes(15), description: 'imports the training job\'s model.onnx as the candidate package (checked against the serving schema)' },
  evaluate: { stateName: 'Evaluate', heavy: true, timeout: Duration.minutes(5), description: 'scores candidate and serving version on the same holdout' },
  quantize: { stateName: 'Quantize', heavy: true, timeout: Duration.minutes(15), description: 'quantizes the candidate to int8 and gates the int8 model' },
  gate: { stateName: 'Gate', heavy: false, timeout: Duration.minutes(5), description: 'compares the candidate with the serving version' },
  register: { stateName: 'Register', heavy: false, timeout: Duration.minutes(5), description: 'records the verdict (approved or rejected) in the registry' },
  deploy: { stateName: 'Deploy', heavy: false, timeout: Duration.minutes(5), description: 'starts the approved candidate as a canary, or promotes it (or leaves it approved for manual promotion)' },
  canaryCheck: { stateName: 'CanaryCheck', heavy: false, timeout: Duration.minutes(5), description: 'compares the canary with the serving version on CloudWatch metrics; promotes or rolls it back' },
  notify: { stateName: 'Notify', heavy: false, timeout: Duration.minutes(5), description: 'sends the run\'s summary to the notification topic' },
  abortCanary: { stateName: 'AbortCanary', heavy: false, timeout: Duration.minutes(5), description: 'ends the canary when its check failed for good, so it takes no more traffic' },
};

/** A SageMaker training job with your image instead of the Train function (see model-pipeline/pipeline/training-contract.ts). */
export interface TrainingJobSettings {
  /** ECR URI of the training image; `{account}`, `{region}` and `{urlSuffix}` are filled in with the stack's. */
  readonly image: string;
  /**
   * SageMaker instance type of the job.
   * @default 'ml.m5.xlarge'
   */
  readonly instanceType?: string;
  /**
   * Instances of the job.
   * @default 1
   */
  readonly instanceCount?: number;
  /**
   * ML storage volume of each instance (encrypted with the platform key when there is one).
   * @default Size.gibibytes(30)
   */
  readonly volumeSize?: Size;
  /**
   * Longest the job may run; SageMaker stops it then and the run fails.
   * @default Duration.hours(1)
   */
  readonly maxRuntime?: Duration;
  /**
   * Passed to the image in hyperparameters.json next to the platform's own keys.
   * @default {}
   */
  readonly hyperparameters?: Readonly<Record<string, string>>;
}

/** How a candidate is deployed as a canary before it serves all requests. */
export interface CanaryDeployment {
  /**
   * Share of the requests that name no version sent to the candidate, above 0 and at most 1.
   * @default 0.1
   */
  readonly weight?: number;
  /**
   * How long the canary is observed before a healthy one is promoted.
   * @default Duration.minutes(30)
   */
  readonly window?: Duration;
  /**
   * Wait between two checks of the canary (a failing canary rolls back at the first check that sees it).
   * @default Duration.minutes(5)
   */
  readonly checkInterval?: Duration;
  /**
   * Canary requests needed before it is judged.
   * @default 100
   */
  readonly minRequests?: number;
  /**
   * Largest excess of the canary's error rate over the serving version's (0.01 = one point).
   * @default 0.01
   */
  readonly maxErrorRateIncrease?: number;
  /**
   * Largest ratio of the canary's p99 latency to the serving version's.
   * @default 1.5
   */
  readonly latencyFactor?: number;
}

/** Properties of a {@link RetrainingPipeline}. */
export interface RetrainingPipelineProps {
  /** Bucket of the model packages: read and written under `models/` (new versions, registries). */
  readonly modelBucket: IBucket;
  /** Bucket of labels and datasets (read), datasets and run state under `pipeline/` (written). */
  readonly dataBucket: IBucket;
  /**
   * KMS key that encrypts both buckets; it also encrypts the notification topic this construct creates.
   * @default - the buckets use S3-managed keys, and a created topic the AWS managed key `alias/aws/sns`
   */
  readonly key?: IKey;
  /**
   * Where failures, promotions and rejections are published. When given, its `masterKey` (if any)
   * is granted for publishing through SNS.
   * @default - a new topic, KMS-encrypted and TLS-only
   */
  readonly notifyTopic?: ITopic;
  /**
   * An email address subscribed to the topic this construct creates; ignored with `notifyTopic`.
   * @default - no subscription
   */
  readonly notifyEmail?: string;
  /**
   * Models whose "Drift Confirmed" events start a run.
   * @default - every model's
   */
  readonly modelNames?: readonly string[];
  /**
   * Largest drop of the gate's metric, in points, of the candidate against the serving version that still passes.
   * @default 0.5
   */
  readonly maxDropPoints?: number;
  /**
   * Training epochs of a candidate.
   * @default 40
   */
  readonly epochs?: number;
  /**
   * Quantize each candidate to int8 (the int8 model serves only if it passes its own gate).
   * @default true
   */
  readonly quantize?: boolean;
  /**
   * Leave a candidate that passed the gate approved instead of promoting it; a person promotes it
   * with `mlops models promote <model> <version> --repo s3://<model bucket>`.
   * @default false
   */
  readonly manualApproval?: boolean;
  /**
   * Deploy an approved candidate as a canary, judged by CanaryCheck on the inference function's
   * per-version CloudWatch metrics (errors, p99 latency), before it serves every request; false
   * promotes it at once.
   * @default {} - a canary with the defaults of CanaryDeployment
   */
  readonly canary?: CanaryDeployment | false;
  /**
   * Train candidates with a SageMaker training job running your image (Prepare → TrainingJob →
   * ImportArtifact) instead of the built-in trainer in the Train function.
   * @default - the built-in trainer
   */
  readonly training?: TrainingJobSettings;
  /**
   * Memory in MB of the train, evaluate and quantize functions (1769 MB is one vCPU).
   * @default 3008
   */
  readonly trainMemorySize?: number;
  /**
   * Memory in MB of the other step functions.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Processor architecture of the functions and their ONNX Runtime layer.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * How long function and state machine logs are kept.
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
 * The retraining pipeline on Step Functions: Start → Prepare → Train → Evaluate → Quantize → Gate
 * → Register → (rejected: Notify, end) → Deploy → (canary: CanaryWait → CanaryCheck, looping while
 * the outcome is "canary") → Notify. Each state is one Lambda running one
 * step of `model-pipeline/pipeline/runner.ts`; steps are idempotent by run id, so a task is
 * retried on Lambda service errors and a failed run resumes when started again with its run id.
 *
 * A step that fails records the failure, notifies and throws `StepFailedError`: the execution
 * then ends in the Fail state. Any other error (a timeout, a crash, Lambda itself) first goes
 * through a failure notification published by Step Functions. The serving model is untouched by
 * a failure: only Deploy and CanaryCheck promote, and only a candidate that passed the gate.
 *
 * With `canary` (the default), Deploy sends a share of the requests that name no version to the
 * candidate; CanaryCheck compares it with the serving version on the inference function's
 * per-version metrics and capture, and promotes it, rolls it back (the registry records why), or
 * waits for the next check. It always decides once the window is over, so the loop ends.
 *
 * With `manualApproval`, Deploy leaves the candidate approved and Notify says so; promotion is
 * `mlops models promote`. There is no callback (task token) API: an approval is a registry change.
 *
 * A "Drift Confirmed" event of the monitor (source `mlops.monitor`) starts an execution with the
 * event as input; `start` reads its `detail`. Started by hand, the input is
 * `{"model", "runId", "trigger": {"kind": "manual", "reason"}}`.
 */
export class RetrainingPipeline extends Construct {
  /** The state machine; start it with a drift event or `{model, runId, trigger}`. */
  public readonly stateMachine: StateMachine;
  /** The functions, one per handler. */
  public readonly functions: ReadonlyMap<PipelineHandler, MlopsFunction>;
  /** Where failures, promotions and rejections are published. */
  public readonly notifyTopic: ITopic;
  /** Starts an execution on every "Drift Confirmed" event. */
  public readonly driftRule: Rule;
  /** The state machine's execution log (execution data left out). */
  public readonly logGroup: LogGroup;
  /** The execution role of the training jobs, with a training job. */
  public trainingJobRole?: Role;

  constructor(scope: Construct, id: string, props: RetrainingPipelineProps) {
    super(scope, id);
    const maxDropPoints = props.maxDropPoints ?? 0.5;
    const epochs = props.epochs ?? 40;
    const quantize = props.quantize ?? true;
    const manualApproval = props.manualApproval ?? false;
    const trainMemorySize = props.trainMemorySize ?? 3008;
    const memorySize = props.memorySize ?? 1024;
    const architecture = props.architecture ?? Architecture.ARM_64;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const canary = props.canary === false ? undefined : props.canary ?? {};
    const canaryWeight = canary?.weight ?? 0.1;
    const canaryWindow = canary?.window ?? Duration.minutes(30);
    const canaryInterval = canary?.checkInterval ?? Duration.minutes(5);

    if (!(maxDropPoints >= 0 && maxDropPoints <= 100)) {
      throw new Error(`maxDropPoints must be between 0 and 100 (received ${maxDropPoints})`);
    }
    if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`epochs must be a whole number of at least 1 (received ${epochs})`);
    for (const [name, value] of [['trainMemorySize', trainMemorySize], ['memorySize', memorySize]] as const) {
      if (!Number.isInteger(value) || value < 128 || value > 10240) {
        throw new Error(`${name} must be a whole number of MB from 128 to 10240, Lambda's range (received ${value})`);
      }
    }
    if (canary) {
      if (!(canaryWeight > 0 && canaryWeight <= 1)) throw new Error(`canary.weight must be above 0 and at most 1 (received ${canaryWeight})`);
      if (canaryWindow.toSeconds() < 60) throw new Error(`canary.window must be at least a minute (received ${canaryWindow.toHumanString()})`);
      if (canaryInterval.toSeconds() < 1 || canaryInterval.toSeconds() > canaryWindow.toSeconds()) {
        throw new Error(`canary.checkInterval must be at least a second and at most the window (received ${canaryInterval.toHumanString()})`);
      }
    }
    if (props.modelNames?.length === 0) throw new Error('modelNames must name at least one model when given (received [])');
    const training = props.training;
    if (training) {
      const instanceCount = training.instanceCount ?? 1;
      if (!Number.isInteger(instanceCount) || instanceCount < 1) throw new Error(`training.instanceCount must be a whole number of at least 1 (received ${instanceCount})`);
      const reserved = Object.keys(training.hyperparameters ?? {}).filter((k) => (RESERVED_HYPERPARAMETERS as readonly string[]).includes(k));
      if (reserved.length) throw new Error(`training.hyperparameters ${reserved.join(', ')} are set by the platform (received ${reserved.join(', ')})`);
    }

    // --- Notifications --------------------------------------------------------------------------
    // A created topic: the platform key when there is one; otherwise SNS's AWS managed key, which
    // every principal of the account allowed to publish may use, so it needs no grant.
    const topicKey = props.notifyTopic ? props.notifyTopic.masterKey : props.key;
    if (props.notifyTopic) {
      this.notifyTopic = props.notifyTopic;
    } else {
      const topic = new Topic(this, 'NotifyTopic', {
        displayName: 'MLOps retraining pipeline',
        masterKey: props.key ?? Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
        enforceSSL: true,
      });
      if (props.notifyEmail) topic.addSubscription(new EmailSubscription(props.notifyEmail));
      this.notifyTopic = topic;
    }

    // --- Functions ------------------------------------------------------------------------------
    const layer = new OnnxRuntimeLayer(this, 'OnnxRuntime', { architecture });
    const environment = {
      MODEL_BUCKET: props.modelBucket.bucketName,
      DATA_BUCKET: props.dataBucket.bucketName,
      NOTIFY_TOPIC_ARN: this.notifyTopic.topicArn,
      MAX_DROP_POINTS: String(maxDropPoints),
      EPOCHS: String(epochs),
      QUANTIZE: String(quantize),
      // Read by Deploy only: with manual approval it leaves the candidate approved.
      AUTO_APPROVE: String(!manualApproval),
      // Read by Deploy and CanaryCheck: 0 promotes at once.
      CANARY_WINDOW_SECONDS: String(canary ? canaryWindow.toSeconds() : 0),
      CANARY_WEIGHT: String(canaryWeight),
      CANARY_MIN_REQUESTS: String(canary?.minRequests ?? 100),
      CANARY_MAX_ERROR_RATE_INCREASE: String(canary?.maxErrorRateIncrease ?? 0.01),
      CANARY_LATENCY_FACTOR: String(canary?.latencyFactor ?? 1.5),
      // Read by Prepare: with a training job it also returns the job's inputs.
      TRAINING_MODE: training ? 'sagemaker' : 'builtin',
      S3_FORCE_PATH_STYLE: 'false',
    };
    // Only the functions this state machine invokes: the Train function or the job's import, and the canary's abort with a canary.
    const unused = new Set<PipelineHandler>([training ? 'train' : 'importArtifact', ...(canary ? [] : ['abortCanary' as const])]);
    const functions = new Map<PipelineHandler, MlopsFunction>();
    for (const [handler, settings] of Object.entries(HANDLERS) as Array<[PipelineHandler, HandlerSettings]>) {
      if (unused.has(handler)) continue;
      functions.set(
        handler,
        new MlopsFunction(this, `${settings.stateName}Function`, {
          entry: HANDLER_ENTRY,
          handler,
          description: `Retraining pipeline, ${handler}: ${settings.description}`,
          memorySize: settings.heavy ? trainMemorySize : memorySize,
          timeout: settings.timeout,
          architecture,
          // One bundle for every step, and the module imports onnxruntime-node.
          onnxRuntime: layer,
          logRetention,
          logRemovalPolicy,
          environment,
        }),
      );
    }
    this.functions = functions;
    this.grantStepAccess(props, topicKey);
    if (canary) this.grantCanaryCheckMetrics();

    // --- State machine --------------------------------------------------------------------------
    const failed = new Fail(this, 'Failed', {
      comment: 'The run failed; the serving model is unchanged. Start it again with the same runId to resume.',
      errorPath: '$.error.Error',
      causePath: JsonPath.jsonToString(JsonPath.objectAt('$.error')),
    });
    const notifyFailure = new SnsPublish(this, 'NotifyFailure', {
      comment: 'A task failed without notifying (timeout, crash, Lambda error): tell the on-call channel.',
      topic: this.notifyTopic,
      subject: 'MLOps retraining run failed',
      message: TaskInput.fromObject({
        outcome: 'failed',
        message: 'A retraining run failed; the serving model is unchanged. Start it again with the same runId to resume.',
        execution: JsonPath.executionId,
        input: JsonPath.objectAt('$$.Execution.Input'),
        error: JsonPath.objectAt('$.error'),
      }),
      // The Fail state reads the error from the input.
      resultPath: JsonPath.DISCARD,
    });
    // Whatever SNS answered, the last word of a failed run is worth three more tries.
    notifyFailure.addRetry({ errors: [Errors.TASKS_FAILED], ...RETRY });
    notifyFailure.addCatch(failed, { errors: [Errors.ALL], resultPath: '$.notifyError' });
    notifyFailure.next(failed);

    const invoke = (handler: PipelineHandler, stateName = HANDLERS[handler].stateName): LambdaInvoke => {
      const state = new LambdaInvoke(this, stateName, {
        comment: HANDLERS[handler].description,
        lambdaFunction: functions.get(handler)!,
        // The function's return value ({model, runId, outcome}) is the next state's input.
        payloadResponseOnly: true,
        // Replaced by the retry below, with throttling included.
        retryOnServiceExceptions: false,
      });
      state.addRetry({ errors: [...LAMBDA_TRANSIENT_ERRORS], ...RETRY });
      return state;
    };
    const task = (handler: PipelineHandler, stateName = HANDLERS[handler].stateName): LambdaInvoke => {
      const state = invoke(handler, stateName);
      // The step has recorded the failure and notified: straight to the Fail state.
      state.addCatch(failed, { errors: [STEP_FAILED_ERROR], resultPath: '$.error' });
      state.addCatch(notifyFailure, { errors: [Errors.ALL], resultPath: '$.error' });
      return state;
    };

    const notify = task('notify').next(new Succeed(this, 'Done'));
    const deploy = task('deploy');
    if (canary) {
      // Wait → check, until the check promotes or rolls back (it always decides once the window is over).
      const wait = new Wait(this, 'CanaryWait', { comment: 'Lets the canary take traffic before the next check', time: WaitTime.duration(canaryInterval) });
      const decided = new Choice(this, 'CanaryDecided', { comment: 'outcome "canary": not decided yet' })
        .when(Condition.stringEquals('$.outcome', 'canary'), wait)
        .otherwise(notify);
      // A check that fails for good (retries exhausted, a timeout, a crash) must not leave the
      // canary serving its share: AbortCanary ends it first, then the failure path goes on.
      const abort = invoke('abortCanary');
      abort.addCatch(notifyFailure, { errors: [Errors.ALL], resultPath: '$.abortError' });
      abort.next(
        new Choice(this, 'FailureNotified', { comment: 'A StepFailedError has been notified by the step itself' })
          .when(Condition.stringEquals('$.error.Error', STEP_FAILED_ERROR), failed)
          .otherwise(notifyFailure),
      );
      const check = invoke('canaryCheck');
      check.addCatch(abort, { errors: [Errors.ALL], resultPath: '$.error' });
      wait.next(check).next(decided);
      deploy.next(
        new Choice(this, 'CanaryStarted', { comment: 'Deploy started a canary (not with manual approval)' })
          .when(Condition.stringEquals('$.outcome', 'canary'), wait)
          .otherwise(notify),
      );
    } else {
      deploy.next(notify);
    }
    const verdict = new Choice(this, 'Verdict', { comment: 'A rejected candidate is never deployed.' })
      .when(Condition.stringEquals('$.outcome', 'rejected'), task('notify', 'NotifyRejected').next(new Succeed(this, 'CandidateRejected')))
      .otherwise(deploy);
    const evaluate = task('evaluate');
    evaluate.next(task('quantize')).next(task('gate')).next(task('register')).next(verdict);
    let train: IChainable;
    if (training) {
      const importArtifact = task('importArtifact');
      importArtifact.next(evaluate);
      const job = this.trainingJob(props, training);
      job.addRetry({ errors: [...SAGEMAKER_TRANSIENT_ERRORS], ...RETRY });
      // Nothing has notified yet: every failure of the job goes to the failure notification.
      job.addCatch(notifyFailure, { errors: [Errors.ALL], resultPath: '$.error' });
      job.next(importArtifact);
      train = new Choice(this, 'AlreadyTrained', { comment: "A resumed run whose job already ran imports its artifact: SageMaker job names are unique" })
        .when(Condition.isPresent('$.trainingJob.trained'), importArtifact)
        .otherwise(job);
    } else {
      train = task('train').next(evaluate);
    }
    const definition = task('start').next(task('prepare')).next(train);

    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = loggedStateMachine(this, {
      comment: `Retraining: start → prepare → ${training ? 'training job → import artifact' : 'train'} → evaluate → quantize → gate → register → deploy → (canary checks) → notify`,
      definition,
      logRetention,
      logRemovalPolicy,
      moreUnscopedActions: training ? 'Likewise sagemaker:ListTags, which the training job task calls while it waits for the job.' : undefined,
    }));
    this.grantStateMachineAccess(topicKey, training !== undefined);

    // --- Trigger --------------------------------------------------------------------------------
    this.driftRule = new Rule(this, 'DriftConfirmed', {
      description: 'Confirmed drift reported by the monitor starts a retraining run',
      eventPattern: {
        source: [DRIFT_EVENT.source],
        detailType: [DRIFT_EVENT.detailType],
        ...(props.modelNames ? { detail: { model: [...props.modelNames] } } : {}),
      },
      // The whole event is the input: `start` reads model, runId and reason from its detail.
      targets: [new SfnStateMachine(this.stateMachine)],
    });
  }

  /**
   * Gives each step function's role a policy of its own, `<state>Access`, that allows exactly the
   * step's {@link STEP_ACCESS}: each action under its own key patterns, s3:ListBucket only under
   * the patterns it lists or reads, the platform key only through S3, and publishing only to the
   * steps that notify.
   */
  private grantStepAccess(props: RetrainingPipelineProps, topicKey: IKey | undefined): Policy[] {
    const region = Stack.of(this).region;
    const objects = (bucket: IBucket, patterns: readonly string[]) => patterns.map((p) => bucket.arnForObjects(p));
    return [...this.functions].map(([handler, fn]) => {
      const access = STEP_ACCESS[handler];
      const statements: PolicyStatement[] = [];
      if (access.models) {
        statements.push(new PolicyStatement({ actions: ['s3:GetObject'], resources: objects(props.modelBucket, access.models.read) }));
        if (access.models.write?.length) statements.push(new PolicyStatement({ actions: ['s3:PutObject'], resources: objects(props.modelBucket, access.models.write) }));
        statements.push(listUnder(props.modelBucket, access.models.list));
      }
      statements.push(
        new PolicyStatement({ actions: ['s3:GetObject'], resources: objects(props.dataBucket, access.data.read) }),
        new PolicyStatement({ actions: ['s3:PutObject'], resources: objects(props.dataBucket, access.data.write) }),
        listUnder(props.dataBucket, access.data.read),
      );
      // Decrypt to read, GenerateDataKey to write (every step writes its run's state); only through S3.
      if (props.key) statements.push(keyUseVia(props.key, 's3', region));
      if (access.notifies) {
        statements.push(new PolicyStatement({ actions: ['sns:Publish'], resources: [this.notifyTopic.topicArn] }));
        if (topicKey) statements.push(keyUseVia(topicKey, 'sns', region));
      }
      const policy = new Policy(this, `${HANDLERS[handler].stateName}Access`, { statements, roles: [fn.role] });
      const patterns = [...(access.models ? [...access.models.read, ...(access.models.write ?? [])] : []), ...access.data.read, ...access.data.write];
      acknowledgeWildcardResources(
        policy,
        [...new Set(patterns)].map((pattern) => `/${pattern}`),
        'Object ARNs of the keys this step touches: packages, version claims and registries under models/<model>/ ' +
          '(new versions are numbered at run time), label files under labels/ and datasets under datasets/, ' +
          'captured requests under capture/<model>/<version>/, and its run\'s state and data under pipeline/<model>/<runId>/.',
      );
      return policy;
    });
  }

  /**
   * CanaryCheck reads the inference function's metrics (GetMetricData), in a policy of its own
   * next to its step access (which reads the two versions' capture).
   */
  private grantCanaryCheckMetrics(): Policy {
    const policy = new Policy(this, 'CanaryCheckMetrics', {
      statements: [new PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
      roles: [this.functions.get('canaryCheck')!.role],
    });
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:GetMetricData supports no resource-level permissions (CloudWatch metrics have no ARNs): its only possible Resource is "*". It reads metric values only.',
    });
    return policy;
  }

  /**
   * The SageMaker training job task (`.sync`: the state waits for the job). Its inputs come from
   * Prepare's output (`$.trainingJob`: name, channel URIs, output path, the platform's
   * hyperparameters); its result (job name and artifact URI) goes to `$.trainingJob.trained` for
   * ImportArtifact. It runs under a role of its own that reads only the run's channels, writes only
   * under the runs' training/ prefixes, pulls only the configured image, and logs.
   */
  private trainingJob(props: RetrainingPipelineProps, settings: TrainingJobSettings): SageMakerCreateTrainingJob {
    const stack = Stack.of(this);
    const image = trainingImage(settings.image, stack);
    const role = new Role(this, 'TrainingJobRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Runs the retraining pipeline\'s SageMaker training jobs: reads their channels, writes their model artifacts',
    });
    const channels = TrainingContract.channels.map((c) => `${DataPrefixes.pipeline}*/${TrainingContract.channelFile(c)}`);
    const output = `${DataPrefixes.pipeline}*/training/*`;
    const logGroup = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws/sagemaker/TrainingJobs:*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const statements = [
      new PolicyStatement({ actions: ['s3:GetObject'], resources: channels.map((c) => props.dataBucket.arnForObjects(c)) }),
      // SageMaker lists a channel's prefix (S3Prefix) before it copies the objects.
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.dataBucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${DataPrefixes.pipeline}*`] } } }),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [props.dataBucket.arnForObjects(output)] }),
      new PolicyStatement({ actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], resources: [image.repositoryArn] }),
      new PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
      new PolicyStatement({ actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'], resources: [logGroup] }),
      new PolicyStatement({ actions: ['cloudwatch:PutMetricData'], resources: ['*'], conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' } } }),
    ];
    // Decrypt to read the channels, GenerateDataKey to write the artifact; only through S3.
    if (props.key) statements.push(keyUseVia(props.key, 's3', stack.region));
    const policy = new Policy(this, 'TrainingJobAccess', { statements, roles: [role] });
    acknowledgeWildcardResources(
      policy,
      [...channels, output].map((pattern) => `/${pattern}`),
      'Object ARNs of the runs\' training jobs: the train and holdout CSV that Prepare writes under ' +
        'pipeline/<model>/<runId>/, and the model artifact SageMaker writes under ' +
        'pipeline/<model>/<runId>/training/ (run ids are known at run time).',
    );
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Actions without resource-level permissions: ecr:GetAuthorizationToken (the registry login) and cloudwatch:PutMetricData (limited by condition to the /aws/sagemaker/TrainingJobs namespace).',
    });
    acknowledgeWildcardResources(
      policy,
      [':log-group:/aws/sagemaker/TrainingJobs:*'],
      'The log streams of the training jobs, named by SageMaker after each job, in SageMaker\'s one log group /aws/sagemaker/TrainingJobs.',
    );

    const hyperparameters: Record<string, string> = { ...settings.hyperparameters };
    for (const key of RESERVED_HYPERPARAMETERS) hyperparameters[key] = JsonPath.stringAt(`$.trainingJob.hyperparameters.${key}`);
    const job = new SageMakerCreateTrainingJob(this, 'TrainingJob', {
      comment: 'Trains the candidate with the configured image; SageMaker writes model.tar.gz under the run\'s training/ prefix',
      integrationPattern: IntegrationPattern.RUN_JOB,
      trainingJobName: JsonPath.stringAt('$.trainingJob.name'),
      role,
      algorithmSpecification: { trainingImage: DockerImage.fromRegistry(image.uri), trainingInputMode: InputMode.FILE },
      inputDataConfig: TrainingContract.channels.map((channel) => ({
        channelName: channel,
        contentType: 'text/csv',
        dataSource: { s3DataSource: { s3DataType: S3DataType.S3_PREFIX, s3Location: new InputUri(`$.trainingJob.${channel}`) } },
      })),
      outputDataConfig: { s3OutputLocation: new InputUri('$.trainingJob.output'), encryptionKey: props.key },
      resourceConfig: {
        instanceCount: settings.instanceCount ?? 1,
        // The task adds the "ml." prefix itself.
        instanceType: new InstanceType((settings.instanceType ?? 'ml.m5.xlarge').replace(/^ml\./, '')),
        volumeSize: settings.volumeSize ?? Size.gibibytes(30),
        volumeEncryptionKey: props.key,
      },
      stoppingCondition: { maxRuntime: settings.maxRuntime ?? Duration.hours(1) },
      hyperparameters,
      // What SageMaker's training toolkit sets in framework images, so that an image can rely on them either way.
      environment: {
        SM_CHANNEL_TRAIN: `${TrainingContract.root}/input/data/train`,
        SM_CHANNEL_HOLDOUT: `${TrainingContract.root}/input/data/holdout`,
        SM_MODEL_DIR: `${TrainingContract.root}/model`,
        SM_OUTPUT_DATA_DIR: `${TrainingContract.root}/output`,
        SM_INPUT_CONFIG_DIR: `${TrainingContract.root}/input/config`,
      },
      resultSelector: { job: JsonPath.stringAt('$.TrainingJobName'), artifact: JsonPath.stringAt('$.ModelArtifacts.S3ModelArtifacts') },
      resultPath: '$.trainingJob.trained',
    });
    // The task grants the role encryption with the output and volume key the CDK way (kms:Encrypt,
    // kms:ReEncrypt*, kms:GenerateDataKey*, and kms:CreateGrant for the volume), on that one key.
    const defaultPolicy = role.node.tryFindChild('DefaultPolicy');
    if (props.key && defaultPolicy) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(defaultPolicy).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: 'Granted by the SageMaker training job task on the platform key only: SageMaker encrypts the job\'s ML volume and its model artifact with it.',
        });
      }
    }
    this.trainingJobRole = role;
    return job;
  }

  /** What the state machine's role needs besides the Lambda invocations CDK grants. */
  private grantStateMachineAccess(topicKey: IKey | undefined, trainingJob: boolean): void {
    const role = this.stateMachine.role;
    // The failure notification publishes to an encrypted topic.
    if (topicKey) role.addToPrincipalPolicy(keyUseVia(topicKey, 'sns', Stack.of(this).region));

    // CDK grants lambda:InvokeFunction on each function and on `<function ARN>:*`.
    const defaultPolicy = role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy instanceof Policy) {
      acknowledgeWildcardResources(
        defaultPolicy,
        [':*'],
        'lambda:InvokeFunction on the qualified ARNs (versions and aliases) of the pipeline\'s own ' +
          'functions, which Step Functions grants next to each unqualified function ARN.',
      );
    }
    if (trainingJob && defaultPolicy instanceof Policy) {
      acknowledgeWildcardResources(
        defaultPolicy,
        [':training-job/*'],
        'sagemaker:CreateTrainingJob, DescribeTrainingJob, StopTrainingJob and AddTags on the training jobs of ' +
          'the runs, whose names (model and run id) are only known at run time; Step Functions grants them so.',
      );
    }
  }
}

/** A training image URI with the stack's account, region and URL suffix filled in, and its ECR repository's ARN. */
function trainingImage(template: string, stack: Stack): { uri: string; repositoryArn: string } {
  const match = /^(\d{12}|\{account\})\.dkr\.ecr\.([a-z0-9-]+|\{region\})\.(?:amazonaws\.com(?:\.cn)?|\{urlSuffix\})\/([a-z0-9][a-z0-9._/-]*)(?::[\w.-]+|@sha256:[0-9a-f]{64})$/.exec(template);
  if (!match) throw new Error(`training.image must be an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (received ${template})`);
  const [, account, region, repository] = match as unknown as [string, string, string, string];
  // A concrete region names its URL suffix now, so the template shows the image as pulled.
  const urlSuffix = Token.isUnresolved(stack.region) ? stack.urlSuffix : stack.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const uri = template.replaceAll('{account}', stack.account).replaceAll('{region}', stack.region).replaceAll('{urlSuffix}', urlSuffix);
  const repositoryArn = stack.formatArn({
    service: 'ecr',
    resource: 'repository',
    resourceName: repository,
    account: account === '{account}' ? stack.account : account,
    region: region === '{region}' ? stack.region : region,
  });
  return { uri, repositoryArn };
}

/**
 * An S3 URI read from the state's input, granting nothing: `S3Location.fromJsonExpression` would
 * grant the job's role s3:GetObject, ListBucket and PutObject on every resource ("*"); the
 * training job's own policy grants exactly the run prefixes instead.
 */
class InputUri extends S3Location {
  constructor(private readonly path: string) {
    super();
  }

  bind(): S3LocationConfig {
    return { uri: JsonPath.stringAt(this.path) };
  }
}

/** Publishing to a KMS-encrypted topic: the publisher generates and decrypts data keys, only through SNS. */

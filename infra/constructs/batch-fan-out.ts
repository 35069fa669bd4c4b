import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Policy } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  DistributedMap,
  Errors,
  Fail,
  JsonPath,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  type IChainable,
  type TaskStateBase,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DataPrefixes } from '../../core/layout';
import { type BatchFunctionAccess, BatchKeyPatterns, grantBatchAccess } from '../batch-access';
import { acknowledgeWildcardResources } from '../nag';
import { loggedStateMachine } from '../state-machine';
import { MlopsFunction } from './mlops-function';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/batch/fan-out-handler.ts', import.meta.url));

/**
 * Errors of the Lambda service itself, and a function that ran out of time or memory, which a
 * new invocation can get past. Every step is idempotent, so invoking it again is safe.
 */
export const FAN_OUT_RETRIED_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  Errors.TIMEOUT,
] as const;

/** Retry settings of every task: 5 s, 10 s, 20 s. */
const RETRY = { interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 3 } as const;

/** The handlers `functions/batch/fan-out-handler.ts` exports. */
export type FanOutHandler = 'plan' | 'scorePart' | 'merge' | 'fail';

const { input, output, errors, manifests, plans, parts } = BatchKeyPatterns;

/**
 * What each step does in the buckets (core/batch/fan-out.ts), and so all its role may do. Only
 * Merge and RecordFailure delete, and only staged plans and parts (both clean up a job's
 * staging); no step may delete a lease, or anything outside staging.
 */
export const FAN_OUT_ACCESS: Readonly<Record<FanOutHandler, BatchFunctionAccess>> = {
  // Reads the input (and its manifest: scored already?), stages the plan; a model that cannot be loaded fails the job's manifest.
  plan: { readsModels: true, reads: [input, manifests], puts: [plans, manifests] },
  // Reads the plan, its range of the input and its own staged counts (scored already?); stages its outputs and counts.
  scorePart: { readsModels: true, reads: [input, plans, parts], uploads: [parts] },
  // Reads the plan, the parts and the manifest; writes the outputs and the manifest, then removes the plan and parts.
  merge: { readsModels: false, reads: [plans, parts, manifests], uploads: [output, errors], puts: [manifests], deletes: [plans, parts] },
  // Reads the input's ETag, the plan and the manifest; removes the plan and parts, then writes the failed manifest.
  fail: { readsModels: false, reads: [input, plans, manifests], puts: [manifests], deletes: [plans, parts] },
};

/** Properties of a {@link BatchFanOut}. */
export interface BatchFanOutProps {
  /** Bucket of the model packages (read as the scoring function reads it). */
  readonly modelBucket: IBucket;
  /** Bucket of the batch inputs, staging and outputs. */
  readonly dataBucket: IBucket;
  /**
   * KMS key that encrypts both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /** The ONNX Runtime layer, built for `architecture`. */
  readonly layer: ILayerVersion;
  /**
   * Target size of one part in bytes (Parquet: compressed row-group bytes).
   * @default 128 MiB
   */
  readonly partBytes?: number;
  /**
   * Most parts of one input scored at once (the Distributed Map's MaxConcurrency).
   * @default 20
   */
  readonly partConcurrency?: number;
  /**
   * Rows parsed and scored per chunk (the functions' CHUNK_ROWS).
   * @default 1024
   */
  readonly chunkRows?: number;
  /**
   * Memory in MB of the part function, which runs ONNX Runtime.
   * @default 3008
   */
  readonly partMemorySize?: number;
  /**
   * Memory in MB of the plan, merge and failure functions, which stream bytes.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Longest time one step may take (plan reads the whole input once; a part is scored in one run).
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Longest time one execution may take.
   * @default Duration.hours(12)
   */
  readonly executionTimeout?: Duration;
  /**
   * Processor architecture of the functions (and of `layer`).
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
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
 * Scores a large batch input in parts on Step Functions: Plan (cut the input at record
 * boundaries into parts of about `partBytes`; Parquet: row groups) → a Distributed Map scoring
 * each part with its own function run, at most `partConcurrency` at once, no failure tolerated →
 * Merge (concatenate the parts into the same predictions and errors files one run writes, write
 * the manifest, clean staging). Every task retries Lambda's transient errors and catches the rest
 * into RecordFailure, which writes a failed manifest, then the Fail state. An input already
 * scored ends in NothingToScore.
 *
 * The execution input is `{"key", "etag", "version"}`, as the batch queue's function starts it,
 * with an execution name derived from the three so that a redelivered event starts nothing.
 * Each function has a role of its own that may do in the buckets what its step does and nothing
 * else ({@link FAN_OUT_ACCESS}), in a policy `<state>Access`.
 */
export class BatchFanOut extends Construct {
  /** The state machine the batch queue's function starts. */
  public readonly stateMachine: StateMachine;
  /** The step functions, by handler. */
  public readonly functions: ReadonlyMap<FanOutHandler, MlopsFunction>;
  /** The execution log (execution data left out). */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: BatchFanOutProps) {
    super(scope, id);
    const partBytes = props.partBytes ?? 128 * 1024 * 1024;
    const partConcurrency = props.partConcurrency ?? 20;
    const chunkRows = props.chunkRows ?? 1024;
    const partMemorySize = props.partMemorySize ?? 3008;
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.minutes(15);
    const executionTimeout = props.executionTimeout ?? Duration.hours(12);
    const architecture = props.architecture ?? Architecture.ARM_64;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    if (!Number.isInteger(partBytes) || partBytes < 1) throw new Error(`partBytes must be a whole number of at least 1 (received ${partBytes})`);
    if (!Number.isInteger(partConcurrency) || partConcurrency < 1 || partConcurrency > 10_000) {
      throw new Error(`partConcurrency must be a whole number from 1 to 10000, a Distributed Map's range (received ${partConcurrency})`);
    }
    if (timeout.toSeconds() > 15 * 60) throw new Error(`timeout must be at most 15 minutes, Lambda's limit (received ${timeout.toHumanString()})`);

    // --- Functions ------------------------------------------------------------------------------
    const environment = {
      MODEL_BUCKET: props.modelBucket.bucketName,
      DATA_BUCKET: props.dataBucket.bucketName,
      CHUNK_ROWS: String(chunkRows),
      PART_BYTES: String(partBytes),
      S3_FORCE_PATH_STYLE: 'false',
    };
    const settings: Record<FanOutHandler, { construct: string; memorySize: number; timeout: Duration; description: string }> = {
      plan: { construct: 'Plan', memorySize, timeout, description: 'reads the input once and cuts it into parts at record boundaries' },
      scorePart: { construct: 'ScorePart', memorySize: partMemorySize, timeout, description: 'scores one part into batch/staging/ with ONNX Runtime' },
      merge: { construct: 'Merge', memorySize, timeout, description: 'concatenates the parts into the outputs and writes the manifest' },
      fail: { construct: 'RecordFailure', memorySize, timeout: Duration.minutes(1), description: 'writes the failed manifest of a failed execution' },
    };
    const functions = new Map<FanOutHandler, MlopsFunction>();
    for (const [handler, s] of Object.entries(settings) as Array<[FanOutHandler, (typeof settings)[FanOutHandler]]>) {
      const fn = new MlopsFunction(this, `${s.construct}Function`, {
        entry: HANDLER_ENTRY,
        handler,
        description: `Batch fan-out, ${handler}: ${s.description}`,
        memorySize: s.memorySize,
        timeout: s.timeout,
        architecture,
        // One bundle for every step, and the module imports onnxruntime-node.
        onnxRuntime: props.layer,
        logRetention,
        logRemovalPolicy,
        environment,
      });
      grantBatchAccess(this, `${s.construct}Access`, fn.role, props, FAN_OUT_ACCESS[handler]);
      functions.set(handler, fn);
    }
    this.functions = functions;

    // --- State machine --------------------------------------------------------------------------
    const failed = new Fail(this, 'Failed', {
      comment: 'The input could not be scored; its manifest says why. Upload it again (a new ETag) to retry.',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const invoke = (handler: FanOutHandler, stateName: string, payload: TaskInput, resultPath: string): LambdaInvoke =>
      new LambdaInvoke(this, stateName, {
        comment: settings[handler].description,
        lambdaFunction: functions.get(handler)!,
        payload,
        payloadResponseOnly: true,
        resultPath,
        // Replaced by the retry below, with throttling and timeouts included.
        retryOnServiceExceptions: false,
      });
    const recordFailure = invoke(
      'fail',
      'RecordFailure',
      TaskInput.fromObject({
        key: JsonPath.stringAt('$$.Execution.Input.key'),
        etag: JsonPath.stringAt('$$.Execution.Input.etag'),
        version: JsonPath.stringAt('$$.Execution.Input.version'),
        error: JsonPath.objectAt('$.error'),
      }),
      JsonPath.DISCARD,
    );
    recordFailure.addRetry({ errors: [Errors.ALL], ...RETRY });
    // The manifest could not be written either: the Fail state still ends the execution with the error.
    recordFailure.addCatch(failed, { errors: [Errors.ALL], resultPath: '$.recordError' });
    recordFailure.next(failed);
    const withRetryAndCatch = <T extends TaskStateBase | DistributedMap>(state: T, onError: IChainable): T => {
      state.addRetry({ errors: [...FAN_OUT_RETRIED_ERRORS], ...RETRY });
      state.addCatch(onError, { errors: [Errors.ALL], resultPath: '$.error' });
      return state;
    };

    const plan = withRetryAndCatch(invoke('plan', 'Plan', TaskInput.fromJsonPathAt('$'), '$.plan'), recordFailure);
    // Inside the map a failed part fails its child execution; the map (no failure tolerated) then fails into RecordFailure.
    const partFailed = new Fail(this, 'PartFailed', { comment: 'A part could not be scored after its retries.', errorPath: '$.error.Error', causePath: '$.error.Cause' });
    const scorePart = withRetryAndCatch(
      invoke('scorePart', 'ScorePart', TaskInput.fromObject({ planKey: JsonPath.stringAt('$.planKey'), index: JsonPath.numberAt('$.index') }), JsonPath.DISCARD),
      partFailed,
    );
    const scoreParts = new DistributedMap(this, 'ScoreParts', {
      comment: 'One child execution per part; the parts are independent and staged under batch/staging/.',
      itemsPath: '$.plan.indexes',
      itemSelector: { planKey: JsonPath.stringAt('$.plan.planKey'), index: JsonPath.numberAt('$$.Map.Item.Value') },
      maxConcurrency: partConcurrency,
      // One failed part fails the map. CDK leaves a 0 out of the definition; absent, Step Functions tolerates none either.
      toleratedFailurePercentage: 0,
      mapExecutionType: StateMachineType.STANDARD,
      // Part counts are staged in S3, where the merge reads them; the state stays small.
      resultPath: JsonPath.DISCARD,
    });
    scoreParts.itemProcessor(scorePart);
    withRetryAndCatch(scoreParts, recordFailure);
    const merge = withRetryAndCatch(invoke('merge', 'Merge', TaskInput.fromObject({ plan: JsonPath.objectAt('$.plan') }), '$.merged'), recordFailure);

    const definition = plan.next(
      new Choice(this, 'Planned', { comment: 'An input already scored by this model version, or whose model cannot be loaded, has its manifest already.' })
        .when(Condition.stringEquals('$.plan.status', 'planned'), scoreParts.next(merge).next(new Succeed(this, 'Merged')))
        .otherwise(new Succeed(this, 'NothingToScore')),
    );

    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = loggedStateMachine(this, {
      comment: `Batch fan-out of large inputs under ${DataPrefixes.batchInput}: plan → parts (Distributed Map) → merge`,
      definition,
      timeout: executionTimeout,
      logRetention,
      logRemovalPolicy,
    }));
    this.acknowledgeStateMachineWildcards();
  }

  private acknowledgeStateMachineWildcards(): void {
    const role = this.stateMachine.role;
    const defaultPolicy = role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy instanceof Policy) {
      acknowledgeWildcardResources(
        defaultPolicy,
        [':*'],
        "lambda:InvokeFunction on the qualified ARNs (versions and aliases) of the fan-out's own functions, " +
          'which Step Functions grants next to each unqualified function ARN.',
      );
    }
    const mapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (mapPolicy instanceof Policy) {
      acknowledgeWildcardResources(
        mapPolicy,
        [':*', '/*:*'],
        "The Distributed Map's states:DescribeExecution, StopExecution and RedriveExecution on the child " +
          "executions of this state machine only (execution:<its name>:*), whose names Step Functions makes up at run time.",
      );
    }
  }
}

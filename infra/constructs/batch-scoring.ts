import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, type AlarmProps, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type CfnFunction, EventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DataPrefixes } from '../../core/layout';
import { type BatchFunctionAccess, BatchKeyPatterns, grantBatchAccess } from '../batch-access';
import { BatchFanOut } from './batch-fan-out';
import { MlopsFunction } from './mlops-function';
import { OnnxRuntimeLayer } from './onnx-runtime-layer';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/batch/handler.ts', import.meta.url));

/** AWS's advice for an SQS event source: a visibility timeout of at least 6 times the function timeout. */
const VISIBILITY_TIMEOUT_FACTOR = 6;

/**
 * How much longer than the function's timeout a job's lease lasts (LEASE_SECONDS = timeout + this
 * margin): longer than a run may take, so a live run never loses its lease, while a crashed run
 * blocks its retry no longer than that. The queue's visibility timeout is at least the timeout
 * plus the lease, so a message redelivered after a crash finds the lease lapsed and takes over.
 */
export const LEASE_MARGIN = Duration.minutes(5);

/**
 * What the queue's function does in the buckets (core/batch/job.ts), and so all its role may do:
 * read models, the input and its manifest; hold the job's lease; stream the outputs; write the
 * manifest. It deletes nothing.
 */
export const SCORING_ACCESS: BatchFunctionAccess = {
  readsModels: true,
  reads: [BatchKeyPatterns.input, BatchKeyPatterns.manifests, BatchKeyPatterns.leases],
  puts: [BatchKeyPatterns.leases, BatchKeyPatterns.manifests],
  uploads: [BatchKeyPatterns.output, BatchKeyPatterns.errors],
};

/** Properties of a {@link BatchScoring}. */
export interface BatchScoringProps {
  /** Bucket of the model packages, read under `models/`. */
  readonly modelBucket: IBucket;
  /**
   * Bucket of the batch files: inputs under `batch/input/`, outputs under `batch/output/`,
   * `batch/errors/`, `batch/staging/` and `batch/manifests/`. It must send its events to
   * EventBridge (`eventBridgeEnabled`), as the storage stack's data bucket does.
   */
  readonly dataBucket: IBucket;
  /**
   * KMS key that encrypts both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Memory of the function in MB; the CPU share grows with it (1769 MB is one vCPU).
   * @default 3008
   */
  readonly memorySize?: number;
  /**
   * Longest time one file may take to score; at most Lambda's 15 minutes.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Processor architecture of the function and its ONNX Runtime layer.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * Most functions the queue's event source invokes at once (2 to 1000).
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * Concurrency reserved for the function (and its cap); at least `maxConcurrency`.
   * @default - none reserved: the function draws on the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
  /**
   * Rows parsed and scored per chunk (the function's CHUNK_ROWS).
   * @default 1024
   */
  readonly chunkRows?: number;
  /**
   * Split inputs above `fanOutAboveBytes` and score them in parts on Step Functions ({@link BatchFanOut}).
   * @default true
   */
  readonly fanOut?: boolean;
  /**
   * Inputs above this many bytes fan out (gzip inputs never do: a gzip stream cannot be split).
   * @default 512 MiB
   */
  readonly fanOutAboveBytes?: number;
  /**
   * Target size of one part of a split input.
   * @default 128 MiB
   */
  readonly partBytes?: number;
  /**
   * Most parts of one input scored at once.
   * @default 20
   */
  readonly partConcurrency?: number;
  /**
   * Receives of one message before it moves to the dead-letter queue.
   * @default 3
   */
  readonly maxReceiveCount?: number;
  /**
   * Alarm as soon as a message is in the dead-letter queue.
   * @default true
   */
  readonly alarmOnDlq?: boolean;
  /**
   * Age of the queue's oldest message above which the backlog alarm fires.
   * @default - two visibility timeouts (3 hours with the default timeout): a file that failed twice, or a backlog `maxConcurrency` does not clear
   */
  readonly maxMessageAge?: Duration;
  /**
   * Where alarms are sent.
   * @default - the alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long function logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Batch scoring of files dropped under `batch/input/<model>/` of the data bucket: S3 sends
 * "Object Created" events to EventBridge; a rule forwards those under `batch/input/` to an SQS
 * queue (SQS-managed encryption, TLS only, dead-letter queue after `maxReceiveCount` receives);
 * the queue invokes a Lambda one message at a time, which scores the file with ONNX Runtime
 * from a layer and reports a failed message as a batch item failure, so that only it is retried.
 * Scoring is idempotent (keyed by the input's ETag and the model version), so a redelivered
 * event writes the same outputs once. Alarms watch the dead-letter queue and the queue's backlog.
 *
 * Two deliveries of one event at once score once: a job holds a lease (an S3 object created with
 * `If-None-Match: *`, keyed by input ETag and model version) that expires after the function's
 * timeout plus {@link LEASE_MARGIN}, so a crashed run blocks its retry no longer than that; the
 * queue's visibility timeout outlasts the timeout plus the lease, so the redelivery takes over.
 *
 * The queue's function and each step of the fan-out have roles of their own, each allowed only
 * the keys its step reads, writes or deletes ({@link SCORING_ACCESS}, `FAN_OUT_ACCESS`).
 *
 * Files above `fanOutAboveBytes` (gzip excepted) are not scored by the queue's function: it
 * starts {@link fanOut}'s state machine (plan → Distributed Map over parts → merge) under an
 * execution name derived from key, ETag and model version, which a redelivery cannot start twice.
 */
export class BatchScoring extends Construct {
  /** The queue of input events the function consumes. */
  public readonly queue: Queue;
  /** Events that failed `maxReceiveCount` times, or that EventBridge could not deliver. */
  public readonly deadLetterQueue: Queue;
  /** The scoring function. */
  public readonly function: MlopsFunction;
  /** The EventBridge rule that turns objects created under `batch/input/` into queue messages. */
  public readonly rule: Rule;
  /** Fires while the dead-letter queue holds a message; absent when `alarmOnDlq` is false. */
  public readonly deadLetterAlarm: Alarm | undefined;
  /** Fires when the queue's oldest message is older than `maxMessageAge`. */
  public readonly backlogAlarm: Alarm;
  /** Fires when a fan-out execution fails, times out or is aborted; absent without `fanOut`. */
  public readonly fanOutFailedAlarm: Alarm | undefined;
  /** The fan-out of large inputs; absent when `fanOut` is false. */
  public readonly fanOut: BatchFanOut | undefined;

  constructor(scope: Construct, id: string, props: BatchScoringProps) {
    super(scope, id);
    const memorySize = props.memorySize ?? 3008;
    const timeout = props.timeout ?? Duration.minutes(15);
    const architecture = props.architecture ?? Architecture.ARM_64;
    const maxConcurrency = props.maxConcurrency ?? 10;
    const chunkRows = props.chunkRows ?? 1024;
    const maxReceiveCount = props.maxReceiveCount ?? 3;
    const alarmOnDlq = props.alarmOnDlq ?? true;
    const fanOut = props.fanOut ?? true;
    const fanOutAboveBytes = props.fanOutAboveBytes ?? 512 * 1024 * 1024;
    const partBytes = props.partBytes ?? 128 * 1024 * 1024;
    const lease = Duration.seconds(timeout.toSeconds() + LEASE_MARGIN.toSeconds());
    const visibilityTimeout = Duration.seconds(Math.max(timeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR, timeout.toSeconds() + lease.toSeconds()));
    const maxMessageAge = props.maxMessageAge ?? Duration.seconds(visibilityTimeout.toSeconds() * 2);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    if (timeout.toSeconds() > 15 * 60) {
      throw new Error(`timeout must be at most 15 minutes, Lambda's limit (received ${timeout.toHumanString()})`);
    }
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
      throw new Error(`maxConcurrency must be a whole number from 2 to 1000, SQS event sources' range (received ${maxConcurrency})`);
    }
    if (props.reservedConcurrency !== undefined && !(Number.isInteger(props.reservedConcurrency) && props.reservedConcurrency >= maxConcurrency)) {
      throw new Error(
        `reservedConcurrency must be a whole number of at least maxConcurrency (${maxConcurrency}), or Lambda throttles ` +
          `messages the event source has already received (received ${props.reservedConcurrency})`,
      );
    }
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`chunkRows must be a whole number of at least 1 (received ${chunkRows})`);
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1) {
      throw new Error(`maxReceiveCount must be a whole number of at least 1 (received ${maxReceiveCount})`);
    }
    if (!Number.isInteger(fanOutAboveBytes) || fanOutAboveBytes < 1) throw new Error(`fanOutAboveBytes must be a whole number of at least 1 (received ${fanOutAboveBytes})`);
    if (partBytes > fanOutAboveBytes) throw new Error(`partBytes must be at most fanOutAboveBytes (${fanOutAboveBytes}) (received ${partBytes})`);

    // --- Queues ---------------------------------------------------------------------------------
    // SQS-managed encryption: EventBridge can send to it without a key policy, which for the
    // platform key would mean the storage stack's key policy naming this stack's rule. Messages
    // carry bucket, key and ETag of the input, never its rows.
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Longer than the queue's 4 days: a message keeps its first enqueue time when it moves here.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    // --- Trigger --------------------------------------------------------------------------------
    // An EventBridge rule in this stack rather than a bucket notification: an S3 → SQS
    // notification lives on the bucket (storage stack) and names the queue (this stack), while
    // this stack names the bucket: a cycle. The rule only names the bucket.
    this.rule = new Rule(this, 'InputCreated', {
      description: `Objects created under ${DataPrefixes.batchInput} of the data bucket, for batch scoring`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.dataBucket.bucketName] },
          object: { key: Match.prefix(DataPrefixes.batchInput) },
        },
      },
      // Events EventBridge cannot deliver (after its own retries) land in the dead-letter queue too.
      targets: [new SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue })],
    });

    // --- Function -------------------------------------------------------------------------------
    const layer = new OnnxRuntimeLayer(this, 'OnnxRuntime', { architecture });
    this.fanOut = fanOut
      ? new BatchFanOut(this, 'FanOut', {
          modelBucket: props.modelBucket,
          dataBucket: props.dataBucket,
          key: props.key,
          layer,
          partBytes,
          partConcurrency: props.partConcurrency,
          chunkRows,
          partMemorySize: memorySize,
          timeout,
          architecture,
          logRetention,
          logRemovalPolicy,
        })
      : undefined;
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: `Batch scoring: one file under ${DataPrefixes.batchInput} per message, on ONNX Runtime`,
      memorySize,
      timeout,
      architecture,
      onnxRuntime: layer,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        DATA_BUCKET: props.dataBucket.bucketName,
        CHUNK_ROWS: String(chunkRows),
        // Longer than a run may take, so a live run never loses its lease.
        LEASE_SECONDS: String(lease.toSeconds()),
        S3_FORCE_PATH_STYLE: 'false',
        ...(this.fanOut ? { STATE_MACHINE_ARN: this.fanOut.stateMachine.stateMachineArn, FAN_OUT_ABOVE_BYTES: String(fanOutAboveBytes), PART_BYTES: String(partBytes) } : {}),
      },
    });
    // The only state machine the function may start.
    this.fanOut?.stateMachine.grantStartExecution(this.function);
    if (props.reservedConcurrency !== undefined) {
      // MlopsFunction's props leave reserved concurrency out; the L1 property is the same setting.
      (this.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = props.reservedConcurrency;
    }
    const bucketAccess = grantBatchAccess(this, 'BucketAccess', this.function.role, props, SCORING_ACCESS);

    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        // One file per invocation: a file may take the whole timeout.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency,
      }),
    );
    // The first message must not arrive before the function may read and write the buckets.
    for (const child of this.function.node.children) {
      if (child instanceof EventSourceMapping) child.node.addDependency(bucketAccess);
    }

    // --- Alarms ---------------------------------------------------------------------------------
    const topic = props.alarmTopic;
    const alarm = (alarmId: string, alarmProps: AlarmProps): Alarm => {
      // An idle queue sends no metrics: no data is no problem.
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...alarmProps });
      if (topic) created.addAlarmAction(new SnsAction(topic));
      return created;
    };
    const period = Duration.minutes(5);
    this.deadLetterAlarm = alarmOnDlq
      ? alarm('DeadLetterAlarm', {
          alarmDescription:
            `A batch input event is in the dead-letter queue: its file failed to score ${maxReceiveCount} times, or ` +
            'EventBridge could not deliver it. Each message names the input key; fix the cause, then redrive the queue.',
          metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
        })
      : undefined;
    this.backlogAlarm = alarm('BacklogAlarm', {
      alarmDescription:
        `The oldest batch input event has waited more than ${maxMessageAge.toHumanString()}: files keep failing, ` +
        'or arrive faster than maxConcurrency functions score them.',
      metric: this.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
      threshold: maxMessageAge.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    // A split file that fails never reaches the dead-letter queue: its execution fails instead.
    this.fanOutFailedAlarm = this.fanOut
      ? alarm('FanOutFailedAlarm', {
          alarmDescription:
            'A fan-out execution (a large batch file scored in parts) failed, timed out or was aborted; its manifest under ' +
            `${DataPrefixes.batchManifests} says why. Fix the cause, then redrive the execution or upload the file again.`,
          metric: new MathExpression({
            expression: 'failed + timedOut + aborted',
            usingMetrics: {
              failed: this.fanOut.stateMachine.metricFailed({ period, statistic: 'Sum' }),
              timedOut: this.fanOut.stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
              aborted: this.fanOut.stateMachine.metricAborted({ period, statistic: 'Sum' }),
            },
            period,
          }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
        })
      : undefined;
  }
}

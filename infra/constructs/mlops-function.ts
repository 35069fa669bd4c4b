import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type ILayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Properties of an {@link MlopsFunction}. */
export interface MlopsFunctionProps {
  /** Path of the TypeScript handler module, bundled with esbuild. */
  readonly entry: string;
  /**
   * Name of the exported handler function.
   * @default 'handler'
   */
  readonly handler?: string;
  /**
   * What the function does, shown in the Lambda console.
   * @default - no description
   */
  readonly description?: string;
  /**
   * Environment variables, next to NODE_OPTIONS which this construct sets.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * Memory in MB; the CPU share grows with it (1769 MB is one vCPU).
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Longest time one invocation may run.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Processor architecture; the ONNX Runtime layer must be built for it.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * The ONNX Runtime layer (OnnxRuntimeLayer), for functions that run models: onnxruntime-node
   * is a native addon, so it is left out of the bundle and loaded from the layer at
   * /opt/nodejs/node_modules, which is on NODE_PATH.
   * @default - none: onnxruntime-node, if imported, is bundled (and fails to load)
   */
  readonly onnxRuntime?: ILayerVersion;
  /**
   * How long the function's logs are kept.
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
 * The house Lambda function: Node.js 24 TypeScript bundled locally by esbuild (no Docker) as
 * minified CommonJS with source maps, X-Ray active tracing, and its own log group with a
 * retention. Its role may write only to that log group; callers add what the code needs.
 *
 * The log group (`logGroup`) and role are created next to the function, as `<id>LogGroup` and
 * `<id>Role`, because the function needs both when it is constructed.
 */
export class MlopsFunction extends NodejsFunction {
  /** The execution role; grant the function's permissions to it. */
  public override readonly role: Role;

  constructor(scope: Construct, id: string, props: MlopsFunctionProps) {
    const handler = props.handler ?? 'handler';
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.seconds(30);
    const architecture = props.architecture ?? Architecture.ARM_64;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    // The runtime provides the AWS SDK v3.
    const externalModules = ['@aws-sdk/*', ...(props.onnxRuntime ? ['onnxruntime-node'] : [])];

    const logGroup = new LogGroup(scope, `${id}LogGroup`, { retention: logRetention, removalPolicy: logRemovalPolicy });
    // An own role instead of the default one, whose AWS managed AWSLambdaBasicExecutionRole may
    // write to every log group of the account.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${scope.node.path}/${id}`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: props.entry,
      handler,
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture,
      memorySize,
      timeout,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      layers: props.onnxRuntime ? [props.onnxRuntime] : undefined,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        format: OutputFormat.CJS,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; the sources would double the asset.
        sourcesContent: false,
        externalModules,
        forceDockerBundling: false,
      },
    });
    this.role = role;

    // Tracing.ACTIVE adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*" to the role.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no ' +
        'resource-level permissions, so their only possible Resource is "*".',
    });
  }
}

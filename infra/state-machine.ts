import { type Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, type IChainable, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/** What {@link loggedStateMachine} needs besides the scope. */
export interface LoggedStateMachineOptions {
  readonly comment: string;
  readonly definition: IChainable;
  /** Longest an execution may run; none when absent. */
  readonly timeout?: Duration;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /**
   * A sentence naming further actions without resource-level permissions that the state
   * machine's own tasks add to its role (sagemaker:ListTags for `.sync` jobs), for cdk-nag.
   */
  readonly moreUnscopedActions?: string;
}

/**
 * A standard state machine traced with X-Ray and logging every event to its own log group,
 * without execution data (inputs hold keys and counts, which belong in S3, not in logs), created
 * in `scope` as `StateMachine` and `ExecutionLogs`. Logging and tracing need actions that support
 * no resource-level permission; cdk-nag's IAM5 finding for them is acknowledged here, once.
 */
export function loggedStateMachine(scope: Construct, options: LoggedStateMachineOptions): { stateMachine: StateMachine; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, 'ExecutionLogs', { retention: options.logRetention, removalPolicy: options.logRemovalPolicy });
  const stateMachine = new StateMachine(scope, 'StateMachine', {
    comment: options.comment,
    stateMachineType: StateMachineType.STANDARD,
    definitionBody: DefinitionBody.fromChainable(options.definition),
    timeout: options.timeout,
    tracingEnabled: true,
    logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: false },
  });
  Validations.of(stateMachine.role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Execution logging and X-Ray tracing: the CloudWatch Logs delivery actions (logs:CreateLogDelivery ' +
      'and the like) and xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and ' +
      'GetSamplingTargets support no resource-level permissions, so their only possible Resource is "*".' +
      (options.moreUnscopedActions ? ` ${options.moreUnscopedActions}` : ''),
  });
  return { stateMachine, logGroup };
}

import type { RemovalPolicy } from 'aws-cdk-lib';
import { CfnScalableTarget } from 'aws-cdk-lib/aws-applicationautoscaling';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnEndpoint } from 'aws-cdk-lib/aws-sagemaker';
import type { Construct } from 'constructs';

/** The only variant of the platform's endpoints: blue/green deployments replace the fleet behind it. */
export const VARIANT_NAME = 'AllTraffic';

/** Throws, naming the value, unless `name` is a valid SageMaker endpoint name and the instance bounds are whole, at least 1 and ordered. */
export function checkEndpointSettings(name: string, minInstances: number, maxInstances: number): void {
  if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
    throw new Error(`endpointName must be 1–63 letters, digits and hyphens, starting and ending with a letter or digit (received ${name})`);
  }
  if (!Number.isInteger(minInstances) || minInstances < 1 || !Number.isInteger(maxInstances) || maxInstances < minInstances) {
    throw new Error(`instances must satisfy 1 <= minInstances <= maxInstances (received ${minInstances} and ${maxInstances})`);
  }
}

/** The log group SageMaker writes an endpoint's container output to, created in `scope` as `Logs` so it gets a retention. */
export function endpointLogGroup(scope: Construct, endpointName: string, retention: RetentionDays, removalPolicy: RemovalPolicy): LogGroup {
  return new LogGroup(scope, 'Logs', { logGroupName: `/aws/sagemaker/Endpoints/${endpointName}`, retention, removalPolicy });
}

/**
 * The autoscaling target of an endpoint's instance count, in `scope` as `ScalableTarget`, once the
 * endpoint exists. No role: Application Auto Scaling uses its service-linked role for SageMaker.
 */
export function variantScalableTarget(scope: Construct, endpoint: CfnEndpoint, endpointName: string, minInstances: number, maxInstances: number): CfnScalableTarget {
  const target = new CfnScalableTarget(scope, 'ScalableTarget', {
    serviceNamespace: 'sagemaker',
    resourceId: `endpoint/${endpointName}/variant/${VARIANT_NAME}`,
    scalableDimension: 'sagemaker:variant:DesiredInstanceCount',
    minCapacity: minInstances,
    maxCapacity: maxInstances,
  });
  target.node.addDependency(endpoint);
  return target;
}

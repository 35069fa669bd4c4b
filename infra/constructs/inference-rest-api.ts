import { Names, RemovalPolicy, Validations, Stack } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  ApiKey,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type MethodOptions,
  Period,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/** Request rate limits of the API. */
export interface ThrottleSettings {
  /**
   * Steady-state requests per second.
   * @default 100
   */
  readonly rateLimit?: number;
  /**
   * Requests allowed in a burst above the steady rate.
   * @default 200
   */
  readonly burstLimit?: number;
}

/** Properties of an {@link InferenceRestApi}. */
export interface InferenceRestApiProps {
  /** The function (or alias) behind every route, through a Lambda proxy integration. */
  readonly handler: IFunction;
  /**
   * What the API serves, shown in the API Gateway console.
   * @default 'Inference API'
   */
  readonly description?: string;
  /**
   * How consumers authenticate: SigV4-signed requests checked by IAM, or an API key with a usage plan.
   * @default 'iam'
   */
  readonly apiAuth?: 'iam' | 'apiKey';
  /**
   * Stage-wide request limits; in apiKey mode also the usage plan's limits per key.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Requests per day per API key (apiKey mode only).
   * @default - no quota
   */
  readonly dailyQuota?: number;
  /**
   * Requests per client IP per 5 minutes above which the web ACL blocks the IP.
   * @default - the stage's rate over a minute (rateLimit × 60)
   */
  readonly ipRateLimit?: number;
  /**
   * Name of the API stage, the first segment of every URL path.
   * @default 'api'
   */
  readonly stageName?: string;
  /**
   * How long access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the access log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Create API Gateway's account-wide CloudWatch role (AWS::ApiGateway::Account) for execution
   * logs. Only one stack of an account and region should: set false when another stack of the
   * platform (the serverless inference stack) already does.
   * @default true
   */
  readonly manageCloudWatchRole?: boolean;
}

/**
 * The inference API's REST front door, shared by the serverless and the GPU paths: regional, IAM or API-key auth on every
 * method, stage throttling, request validation, JSON access logs, X-Ray, error-level execution
 * logs without bodies, and a web ACL (AWS common rules and a per-IP rate limit). Routes
 * `/v2/{proxy+}` and `/models/{proxy+}` go to one function.
 */
export class InferenceRestApi extends Construct {
  /** The REST API. */
  public readonly api: RestApi;
  /** URL of the API stage, ending with `/`. */
  public readonly url: string;
  /** The API key consumers send as `x-api-key`, in apiKey mode. */
  public readonly apiKey: ApiKey | undefined;

  constructor(scope: Construct, id: string, props: InferenceRestApiProps) {
    super(scope, id);
    const description = props.description ?? 'Inference API';
    const apiAuth = props.apiAuth ?? 'iam';
    const rateLimit = props.throttle?.rateLimit ?? 100;
    const burstLimit = props.throttle?.burstLimit ?? 200;
    const ipRateLimit = props.ipRateLimit ?? Math.max(10, Math.ceil(rateLimit * 60));
    const stageName = props.stageName ?? 'api';
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const manageCloudWatchRole = props.manageCloudWatchRole ?? true;

    if (props.dailyQuota !== undefined && apiAuth !== 'apiKey') {
      throw new Error(`dailyQuota applies to API keys; set apiAuth to 'apiKey' (received '${apiAuth}')`);
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy: logRemovalPolicy });
    this.api = new RestApi(this, 'Api', {
      // A name per stack: API Gateway metrics are keyed by name, and two APIs named alike would merge.
      restApiName: `${Stack.of(this).stackName}-api`,
      description,
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      // Every body reaches the function base64-encoded and bytes go back unmangled: binary tensors
      // (OIP's binary data extension) must not pass through a text conversion. The function decodes
      // base64 itself; JSON answers are returned as text and pass through as they are.
      binaryMediaTypes: ['*/*'],
      cloudWatchRole: manageCloudWatchRole,
      deployOptions: {
        stageName,
        throttlingRateLimit: rateLimit,
        throttlingBurstLimit: burstLimit,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
      },
    });
    this.url = this.api.url;

    // Bodies are validated field by field in the function (a 4xx naming the field); the gateway
    // checks that the path parameter is there.
    const requestValidator = this.api.addRequestValidator('RequestValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const methodOptions: MethodOptions = {
      requestValidator,
      requestParameters: { 'method.request.path.proxy': true },
      ...(apiAuth === 'iam' ? { authorizationType: AuthorizationType.IAM } : { apiKeyRequired: true }),
    };
    const integration = new LambdaIntegration(props.handler, { proxy: true });
    for (const root of ['v2', 'models']) {
      this.api.root.addResource(root).addProxy({ anyMethod: false }).addMethod('ANY', integration, methodOptions);
    }

    this.apiKey = apiAuth === 'apiKey' ? this.addUsagePlan(rateLimit, burstLimit, props.dailyQuota) : undefined;
    this.acknowledgeApiFindings(apiAuth, manageCloudWatchRole);
    this.addWebAcl(ipRateLimit);
  }

  /** API keys for consumers, limited by a usage plan on the stage. */
  private addUsagePlan(rateLimit: number, burstLimit: number, dailyQuota: number | undefined): ApiKey {
    const apiKey = new ApiKey(this, 'ApiKey', { description: 'Inference API consumer key; send it as x-api-key' });
    const plan = this.api.addUsagePlan('UsagePlan', {
      description: 'Limits per API key of the inference API',
      throttle: { rateLimit, burstLimit },
      quota: dailyQuota === undefined ? undefined : { limit: dailyQuota, period: Period.DAY },
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    plan.addApiKey(apiKey);
    return apiKey;
  }

  private acknowledgeApiFindings(apiAuth: 'iam' | 'apiKey', manageCloudWatchRole: boolean): void {
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        apiAuth === 'iam'
          ? 'Consumers are AWS principals (services, pipelines, engineers) that sign requests with ' +
            'SigV4; IAM authorizes every method, so there are no end users for a Cognito user pool.'
          : 'Consumers are machine clients identified by API keys with per-key throttling and quota; ' +
            'there are no end users for a Cognito user pool.',
    });
    if (apiAuth === 'apiKey') {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'apiKey mode, chosen in the platform configuration: every method requires an API key bound ' +
          'to a usage plan with throttling, and the stage sits behind a WAF web ACL.',
      });
    }
    if (manageCloudWatchRole) {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The role API Gateway assumes to write execution logs (required by AwsSolutions-APIG6); the ' +
          'AWS managed policy allows only CloudWatch Logs actions and is the one AWS documents for it.',
      });
    }
  }

  /** A regional web ACL on the stage: AWS's common rule set and a per-IP rate limit. */
  private addWebAcl(ipRateLimit: number): void {
    const metricPrefix = Names.uniqueId(this).slice(-100);
    const visibility = (name: string): CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName: `${metricPrefix}${name}`,
      sampledRequestsEnabled: true,
    });
    const webAcl = new CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('WebAcl'),
      rules: [
        {
          name: 'AWSManagedRulesCommonRuleSet',
          priority: 0,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesCommonRuleSet',
              // The set blocks bodies over 8 KB; a batch of instances is routinely larger, and the
              // function enforces its own body and row limits.
              ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
            },
          },
          visibilityConfig: visibility('CommonRuleSet'),
        },
        {
          name: 'RateLimitPerIp',
          priority: 1,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: ipRateLimit, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
      ],
    });
    new CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: webAcl.attrArn,
    });
  }
}

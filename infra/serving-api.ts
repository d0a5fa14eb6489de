/**
 * The HTTPS API: an API Gateway REST API (API keys and usage plans exist only for REST APIs) with
 * Lambda proxy integrations to the ingest and result functions, authentication on every method,
 * stage throttling, access logs and execution logs.
 */
import { CfnOutput, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { IMAGE_MEDIA_TYPES } from '../core/inference/image-file';
import type { ApiAuth } from './serving-props';

/** Stage name, the first path segment of every URL. */
export const API_STAGE = 'prod';

export interface ServingApiProps {
  /** The model served, or the task when the API serves a task (`TaskApi`); named in descriptions. */
  readonly modelName: string;
  /** Whether `modelName` names a model or a task. @default 'model' */
  readonly serves?: 'model' | 'task';
  readonly ingest: lambda.IFunction;
  readonly result: lambda.IFunction;
  readonly auth: ApiAuth;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
}

/** The REST API and, with API-key auth, its key and usage plan. */
export class ServingApi extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly apiKey: apigateway.IApiKey | undefined;
  readonly usagePlan: apigateway.UsagePlan | undefined;

  constructor(scope: Construct, id: string, props: ServingApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttle = { rateLimit: props.throttlingRateLimit, burstLimit: props.throttlingBurstLimit };
    const served = `${props.serves ?? 'model'} ${props.modelName}`;

    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      description: `Apparate inference API for ${served}`,
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      // Image files sent as the raw body reach the ingest function intact (base64-encoded in the
      // proxy event) only when their media types are declared binary here.
      binaryMediaTypes: [...IMAGE_MEDIA_TYPES],
      // Execution logs need the account's API Gateway logging role; it is account-wide, so it is
      // kept when this stack goes.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        metricsEnabled: true,
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
      },
      defaultMethodOptions:
        props.auth === 'iam'
          ? { authorizationType: apigateway.AuthorizationType.IAM }
          : { authorizationType: apigateway.AuthorizationType.NONE, apiKeyRequired: true },
    });
    // Path parameters are checked here; bodies carry no API Gateway model because the ingest
    // function validates them and answers in the API's own error format.
    const validator = this.restApi.addRequestValidator('RequestValidator', {
      validateRequestParameters: true,
      validateRequestBody: true,
    });

    // The ingest function streams its response (early answer, then final) through API Gateway's
    // REST response streaming; a plain JSON request gets its whole response the same way.
    const ingest = new apigateway.LambdaIntegration(props.ingest, {
      responseTransferMode: apigateway.ResponseTransferMode.STREAM,
    });
    const result = new apigateway.LambdaIntegration(props.result);
    const path = (...parts: string[]) =>
      parts.reduce<apigateway.IResource>((at, part) => at.resourceForPath(part), this.restApi.root);
    const method = (
      resource: apigateway.IResource,
      verb: string,
      integration: apigateway.Integration,
      parameters: string[] = [],
    ) =>
      resource.addMethod(verb, integration, {
        requestValidator: validator,
        requestParameters: Object.fromEntries(
          parameters.map((name) => [`method.request.path.${name}`, true]),
        ),
      });

    method(path('v1', 'models', '{model}', 'infer'), 'POST', ingest, ['model']);
    method(path('v1', 'requests', '{id}'), 'GET', result, ['id']);
    method(path('v1', 'models'), 'GET', result);
    method(path('v1', 'models', '{model}', 'config'), 'GET', result, ['model']);
    method(path('openapi.json'), 'GET', result);
    // The Open Inference Protocol (v2 REST): one function serves it, translating to the v1 ingest.
    method(path('v2', 'health', 'live'), 'GET', ingest);
    method(path('v2', 'health', 'ready'), 'GET', ingest);
    method(path('v2', 'models', '{model}'), 'GET', ingest, ['model']);
    method(path('v2', 'models', '{model}', 'ready'), 'GET', ingest, ['model']);
    method(path('v2', 'models', '{model}', 'infer'), 'POST', ingest, ['model']);

    if (props.auth === 'apiKey') {
      this.usagePlan = this.restApi.addUsagePlan('UsagePlan', {
        description: `Apparate clients of ${served}`,
        throttle,
        apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
      });
      this.apiKey = this.restApi.addApiKey('ApiKey', {
        description: `Apparate client key for ${served}`,
      });
      this.usagePlan.addApiKey(this.apiKey);
      new CfnOutput(this, 'ApiKeyId', {
        value: this.apiKey.keyId,
        description: 'Read the key with: aws apigateway get-api-key --include-value --api-key <this id>',
      });
      Validations.of(this.restApi).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'apiAuth is "apiKey": every method requires an API key bound to a usage plan; choose apiAuth "iam" for SigV4 authorization.',
      });
    }
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The account-wide role API Gateway uses to write execution logs; AWS maintains this policy as exactly the log-writing actions it needs.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Clients are services, not end users: they authenticate with an API key or IAM (SigV4), so there is no Cognito user pool.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'WAF is an account-level choice with its own cost; every method is authenticated and throttled per stage and usage plan. Attach a web ACL to the stage if your organisation requires one.',
    });
  }
}

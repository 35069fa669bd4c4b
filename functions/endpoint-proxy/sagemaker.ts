import { InvokeEndpointCommand, SageMakerRuntimeClient, type SageMakerRuntimeClientConfig } from '@aws-sdk/client-sagemaker-runtime';
import type { EndpointAnswer } from '../../core/protocol/triton';
import type { EndpointInvoker } from './proxy';

/**
 * A SageMaker runtime client for the proxy. The SDK's own retries are off (one attempt per send):
 * the proxy retries with its own bounded, full-jitter policy inside one time budget
 * (core/protocol/triton.ts), which the SDK's retries would multiply.
 */
export function createSageMakerRuntimeClient(config: SageMakerRuntimeClientConfig = {}): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({ ...config, maxAttempts: 1 });
}

/** InvokeEndpoint with the SDK; the signal aborts the HTTP request when the time budget runs out. */
export class SageMakerEndpointInvoker implements EndpointInvoker {
  constructor(private readonly client: SageMakerRuntimeClient) {}

  async invoke(call: Parameters<EndpointInvoker['invoke']>[0]): Promise<EndpointAnswer> {
    const command = new InvokeEndpointCommand({
      EndpointName: call.endpoint,
      Body: call.payload.body,
      ContentType: call.payload.contentType,
      Accept: 'application/json',
      InferenceId: call.inferenceId,
    });
    const response = await this.client.send(command, { abortSignal: call.signal });
    return { body: response.Body ?? new Uint8Array(0), contentType: response.ContentType };
  }
}

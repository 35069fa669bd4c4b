import { InvokeEndpointWithResponseStreamCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { TokenStreamInvoker } from './generate';

/**
 * InvokeEndpointWithResponseStream with the SDK. The client should make one attempt per send
 * (createSageMakerRuntimeClient in ../endpoint-proxy/sagemaker.ts): retries happen in
 * ./generate.ts, and only before the first token.
 */
export class SageMakerTokenStreamInvoker implements TokenStreamInvoker {
  constructor(private readonly client: SageMakerRuntimeClient) {}

  async invoke(call: Parameters<TokenStreamInvoker['invoke']>[0]): Promise<AsyncIterable<Uint8Array>> {
    const command = new InvokeEndpointWithResponseStreamCommand({
      EndpointName: call.endpoint,
      Body: call.body,
      ContentType: call.contentType,
      InferenceId: call.inferenceId,
    });
    const response = await this.client.send(command, { abortSignal: call.signal });
    const events = response.Body;
    if (!events) throw Object.assign(new Error('the stream response has no body'), { name: 'InternalStreamFailure', $fault: 'server' });
    return payloadParts(events);
  }
}

/**
 * The bytes of the PayloadPart events. The SDK throws the stream's error events (ModelStreamError,
 * InternalStreamFailure) as exceptions; a member that arrives as a value is thrown the same way.
 */
async function* payloadParts(events: AsyncIterable<{ PayloadPart?: { Bytes?: Uint8Array }; ModelStreamError?: { Message?: string; ErrorCode?: string }; InternalStreamFailure?: { Message?: string } }>): AsyncGenerator<Uint8Array> {
  for await (const event of events) {
    if (event.PayloadPart?.Bytes) yield event.PayloadPart.Bytes;
    else if (event.ModelStreamError) throw Object.assign(new Error(event.ModelStreamError.Message ?? 'model stream error'), { name: 'ModelStreamError', ErrorCode: event.ModelStreamError.ErrorCode });
    else if (event.InternalStreamFailure) throw Object.assign(new Error(event.InternalStreamFailure.Message ?? 'internal stream failure'), { name: 'InternalStreamFailure', $fault: 'server' });
  }
}

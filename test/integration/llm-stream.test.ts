import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSse } from '../../core/protocol/llm-stream';
import { createSageMakerRuntimeClient } from '../../functions/endpoint-proxy/sagemaker';
import { createLlmStreamApp } from '../../functions/llm-stream/app';
import { llmStreamEnv } from '../../functions/llm-stream/env';
import type { GenerationOutcome, LlmStreamDependencies } from '../../functions/llm-stream/generate';
import { addGenerationMetrics } from '../../functions/llm-stream/metrics';
import { functionUrlEvent, installLambdaStreamingGlobal, invokeStreamingHandler } from '../helpers/lambda-streaming';
import { LlmStandIn } from '../../local/llm-stand-in';
import { llmRoute } from '../../local/llm-route';

// --- Setup: the SageMaker runtime stand-in, the SDK client pointed at it, the local route -------

const CHAT = 'mlops-test-chat';
let standIn: LlmStandIn;
/** The same generator sending each line whole in one PayloadPart: the reference for reassembly. */
let wholeLines: LlmStandIn;
let sagemaker: SageMakerRuntimeClient;
let wholeLinesClient: SageMakerRuntimeClient;
let server: Server;
let baseUrl: string;
const outcomes: GenerationOutcome[] = [];

/** The function's environment as the construct sets it, with short backoffs and a 10 s budget. */
function app(model: string, client: SageMakerRuntimeClient, overrides: Record<string, string> = {}): LlmStreamDependencies {
  const env = llmStreamEnv({ MODEL_NAME: model, ENDPOINT_NAME: CHAT, STREAM_TIMEOUT_MS: '10000', MAX_NEW_TOKENS: '200', RETRY_BASE_DELAY_MS: '5', RETRY_MAX_DELAY_MS: '20', ...overrides });
  return createLlmStreamApp(env, client);
}

function clientOf(standIn: LlmStandIn): SageMakerRuntimeClient {
  return createSageMakerRuntimeClient({ endpoint: standIn.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
}

beforeAll(async () => {
  standIn = new LlmStandIn({ endpoints: [CHAT], firstTokenDelayMs: 20, tokenDelayMs: 10 });
  wholeLines = new LlmStandIn({ endpoints: [CHAT], firstTokenDelayMs: 0, tokenDelayMs: 0, splitting: 'line' });
  await Promise.all([standIn.start(), wholeLines.start()]);
  sagemaker = clientOf(standIn);
  wholeLinesClient = clientOf(wholeLines);
  const models = new Map([
    ['chat', app('chat', sagemaker)],
    ['slow', app('slow', sagemaker, { STREAM_TIMEOUT_MS: '400' })],
    ['whole', app('whole', wholeLinesClient)],
  ]);
  const route = llmRoute(models, (outcome) => outcomes.push(outcome));
  server = createServer((req, res) => {
    if (!route(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  sagemaker?.destroy();
  wholeLinesClient?.destroy();
  await Promise.all([standIn?.close(), wholeLines?.close()]);
});

beforeEach(() => {
  standIn.calls.length = 0;
  outcomes.length = 0;
});

/** POSTs to a streaming route and reads the body as it arrives: each read's text, in order. */
async function generate(url: string, body: unknown): Promise<{ status: number; headers: Headers; reads: string[]; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const reads: string[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    reads.push(decoder.decode(value, { stream: true }));
  }
  return { status: response.status, headers: response.headers, reads, text: reads.join('') };
}

function tokensOf(text: string): string {
  return parseSse(text)
    .filter((e) => e.event === 'token')
    .map((e) => (e.data as { text: string }).text)
    .join('');
}

// --- Specifications -------------------------------------------------------------------------

describe('streaming a generation', () => {
  it('sends the first token before the stream ends', async () => {
    const { status, headers, reads } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Tell me about GPUs', max_new_tokens: 12 });

    const firstToken = reads.findIndex((r) => r.includes('event: token'));
    const done = reads.findIndex((r) => r.includes('event: done'));
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(firstToken).toBeGreaterThanOrEqual(0);
    expect(firstToken).toBeLessThan(done);
  });

  it('forwards every token the container generated, then a done event with the finish reason', async () => {
    const { text } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Count', max_new_tokens: 7 });

    const events = parseSse(text);
    expect(events.filter((e) => e.event === 'token')).toHaveLength(7);
    expect(events.at(-1)).toEqual({ event: 'done', data: expect.objectContaining({ finish_reason: 'length', tokens: 7 }) });
  });

  it('sends the container the prompt and parameters in the LMI schema, with the request id as InferenceId', async () => {
    const { headers } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 3, temperature: 0.2 });

    const [call] = standIn.calls;
    expect(call!.endpoint).toBe(CHAT);
    expect(call!.contentType).toBe('application/json');
    expect(call!.body).toEqual({ inputs: 'Hi', stream: true, parameters: { max_new_tokens: 3, do_sample: true, temperature: 0.2, top_p: 0.9, details: true } });
    expect(call!.inferenceId).toBe(headers.get('x-request-id'));
  });

  it('reassembles JSON lines and UTF-8 characters cut across PayloadParts', async () => {
    const body = { prompt: 'the same prompt, so the same words', max_new_tokens: 40 };

    const split = tokensOf((await generate(`${baseUrl}/llm/chat/generate`, body)).text);
    const reference = tokensOf((await generate(`${baseUrl}/llm/whole/generate`, body)).text);

    expect(split).toBe(reference);
    expect(split).toMatch(/[^\x00-\x7f]/);
    expect(split.split(' ')).toHaveLength(40);
  });
});

describe('the local route', () => {
  it('streams when nobody listens for outcomes', async () => {
    const bare = createServer((req, res) => void llmRoute(new Map([['chat', app('chat', sagemaker)]]))(req, res));
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    try {
      const { status, text } = await generate(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 3 });

      expect(status).toBe(200);
      expect(parseSse(text).at(-1)).toMatchObject({ event: 'done', data: { tokens: 3 } });
    } finally {
      bare.closeAllConnections();
      await new Promise((resolve) => bare.close(resolve));
    }
  });
});

describe('failures before the first token', () => {
  it('retries throttling and then streams', async () => {
    standIn.script(CHAT, 'throttle', 'throttle');

    const { status, text } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 4 });

    expect(status).toBe(200);
    expect(parseSse(text).filter((e) => e.event === 'token')).toHaveLength(4);
    expect(standIn.calls).toHaveLength(3);
    expect(outcomes[0]).toMatchObject({ result: 'complete', attempts: 3 });
  });

  it('answers 503 with Retry-After when throttling outlasts the attempts', async () => {
    standIn.script(CHAT, 'throttle', 'throttle', 'throttle');

    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi' }) });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ code: 'endpoint_throttled' });
    expect(standIn.calls).toHaveLength(3);
  });

  it('answers a ModelError with 502 saying the input was not the problem, without retrying', async () => {
    standIn.script(CHAT, 'model-error');

    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi' }) });

    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'endpoint_model_error', error: expect.stringContaining('not a problem with your input') });
    expect(standIn.calls).toHaveLength(1);
  });
});

describe('a model error before the first token', () => {
  it('is a 502 when the container fails before generating anything, without retrying', async () => {
    standIn.script(CHAT, { kind: 'stream-error', afterTokens: 0 });

    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi' }) });

    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'endpoint_model_error' });
    expect(standIn.calls).toHaveLength(1);
  });

  it('is a 504 when no token comes within the budget', async () => {
    standIn.script(CHAT, { kind: 'stall', afterTokens: 0 });

    const response = await fetch(`${baseUrl}/llm/slow/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi' }) });

    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'endpoint_timeout' });
  });
});

describe('failures after the first token', () => {
  it('ends the stream with an error event when the model fails mid-generation, without retrying', async () => {
    standIn.script(CHAT, { kind: 'stream-error', afterTokens: 3 });

    const { status, text } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 10 });

    const events = parseSse(text);
    expect(status).toBe(200);
    expect(events.filter((e) => e.event === 'token')).toHaveLength(3);
    expect(events.at(-1)).toEqual({ event: 'error', data: expect.objectContaining({ code: 'endpoint_model_error', tokens: 3 }) });
    expect(standIn.calls).toHaveLength(1);
  });

  it('ends the stream with a timeout error event when the endpoint stalls past the budget', async () => {
    standIn.script(CHAT, { kind: 'stall', afterTokens: 2 });

    const { status, text } = await generate(`${baseUrl}/llm/slow/generate`, { prompt: 'Hi', max_new_tokens: 10 });

    const events = parseSse(text);
    expect(status).toBe(200);
    expect(events.filter((e) => e.event === 'token')).toHaveLength(2);
    expect(events.at(-1)).toEqual({ event: 'error', data: expect.objectContaining({ code: 'endpoint_timeout' }) });
    expect(outcomes[0]).toMatchObject({ result: 'failed', code: 'endpoint_timeout' });
  });
});

describe('a caller that hangs up', () => {
  it('stops the generation instead of streaming to no one', async () => {
    const caller = new AbortController();
    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi', max_new_tokens: 200 }), signal: caller.signal });
    const reader = response.body!.getReader();
    await reader.read();

    caller.abort();
    for (let i = 0; i < 200 && outcomes.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));

    expect(outcomes[0]).toMatchObject({ result: 'cancelled' });
    expect(outcomes[0]!.summary.tokens).toBeLessThan(200);
  });
});

describe('bad requests', () => {
  it('answers 400 naming max_new_tokens when it is not a number, and calls no endpoint', async () => {
    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi', max_new_tokens: 'lots' }) });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_request', field: 'max_new_tokens' });
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 400 naming the body when it is not JSON', async () => {
    const response = await fetch(`${baseUrl}/llm/chat/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": ' });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_json', field: 'body' });
  });

  it('answers 404 naming the model for an unknown one', async () => {
    const response = await fetch(`${baseUrl}/llm/nope/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi' }) });

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'model_not_found', field: 'model' });
  });
});

describe('metrics', () => {
  it('measures time to first token and tokens per second of each generation', async () => {
    const { text } = await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 8 });

    const done = parseSse(text).at(-1)!.data as Record<string, number>;
    const [outcome] = outcomes;
    expect(outcome!.summary.tokens).toBe(8);
    expect(outcome!.summary.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(outcome!.summary.tokensPerSecond).toBeGreaterThan(0);
    expect(outcome!.summary.timeToFirstTokenMs!).toBeLessThan(outcome!.summary.durationMs);
    expect(done.time_to_first_token_ms).toBeGreaterThan(0);
    expect(done.tokens_per_second).toBeGreaterThan(0);
  });

  it('publishes them as CloudWatch metrics (EMF) with the model as a dimension', async () => {
    await generate(`${baseUrl}/llm/chat/generate`, { prompt: 'Hi', max_new_tokens: 5 });
    const metrics = new Metrics({ namespace: 'Mlops', serviceName: 'mlops' });

    addGenerationMetrics(metrics, outcomes[0]!);

    const emf = metrics.serializeMetrics();
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive!.Namespace).toBe('Mlops');
    expect(directive!.Dimensions).toEqual([['service', 'model']]);
    expect(directive!.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'TimeToFirstToken', Unit: 'Milliseconds' },
        { Name: 'TokensPerSecond', Unit: 'Count/Second' },
        { Name: 'GeneratedTokens', Unit: 'Count' },
      ]),
    );
    expect(emf).toMatchObject({ model: 'chat', GeneratedTokens: 5, TimeToFirstToken: outcomes[0]!.summary.timeToFirstTokenMs });
  });
});

describe('the Lambda handler behind a function URL', () => {
  let url: string;
  let functionUrl: Server;

  beforeAll(async () => {
    Object.assign(process.env, {
      MODEL_NAME: 'chat',
      ENDPOINT_NAME: CHAT,
      MAX_NEW_TOKENS: '50',
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: standIn.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
    });
    installLambdaStreamingGlobal();
    const { handler } = await import('../../functions/llm-stream/handler');
    let n = 0;
    functionUrl = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      await invokeStreamingHandler(handler, functionUrlEvent({ method: req.method!, path: req.url!, headers, body: Buffer.concat(chunks).toString('utf8'), requestId: `fn-${++n}` }), res);
    });
    await new Promise<void>((resolve) => functionUrl.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(functionUrl.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    if (!functionUrl) return;
    functionUrl.closeAllConnections();
    await new Promise((resolve) => functionUrl.close(resolve));
  });

  it('streams tokens with the status and headers of its response prelude', async () => {
    const { status, headers, reads, text } = await generate(url, { prompt: 'Hi', max_new_tokens: 6 });

    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(headers.get('x-request-id')).toMatch(/^fn-/);
    expect(parseSse(text).filter((e) => e.event === 'token')).toHaveLength(6);
    expect(reads.findIndex((r) => r.includes('event: token'))).toBeLessThan(reads.findIndex((r) => r.includes('event: done')));
  });

  it('answers a bad body with 400 naming the field', async () => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi', max_new_tokens: 51 }) });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'max_new_tokens', error: expect.stringContaining('at most 50') });
  });
});

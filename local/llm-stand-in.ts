import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStreamCodec, type Message } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';
import { Random } from '../core/random';

/**
 * A stand-in for SageMaker's runtime API in front of an LLM container — NOT a language model. It
 * speaks the real wire protocol of InvokeEndpointWithResponseStream (POST
 * /endpoints/<name>/invocations-response-stream, an `application/vnd.amazon.eventstream` body of
 * PayloadPart events, errors as statuses with x-amzn-ErrorType before the stream and as exception
 * events inside it), so the SDK client of functions/llm-stream talks to it unchanged. Behind it a
 * tiny token generator writes what an LMI (vLLM rolling batch) container streams: one JSON line per
 * token, the last with `generated_text` and `details`. Words are drawn from a fixed vocabulary,
 * seeded by the prompt, with a delay per token; the lines are cut into PayloadParts at arbitrary
 * bytes, as SageMaker may do.
 */

/** What the stand-in does with a call, scripted per endpoint for tests; 'ok' when nothing is scripted. */
export type StandInBehaviour =
  | 'ok'
  /** 429 ThrottlingException before the stream. */
  | 'throttle'
  /** 503 ServiceUnavailable before the stream. */
  | 'unavailable'
  /** 424 ModelError before the stream: the container refused the request. */
  | 'model-error'
  /** Some tokens, then a ModelStreamError exception event. */
  | { readonly kind: 'stream-error'; readonly afterTokens: number }
  /** Some tokens, then silence with the connection open. */
  | { readonly kind: 'stall'; readonly afterTokens: number };

/** How the generated lines are cut into PayloadPart events. */
export type PartSplitting = 'line' | 'split-lines';

export interface LlmStandInOptions {
  /** Endpoint names it serves; others get SageMaker's ValidationError. */
  readonly endpoints: readonly string[];
  /** Wait before the first token (the prefill), in ms. @default 40 */
  readonly firstTokenDelayMs?: number;
  /** Wait between tokens, in ms. @default 15 */
  readonly tokenDelayMs?: number;
  /** @default 'split-lines' — every line is cut in two PayloadParts, and a part may end inside a UTF-8 character. */
  readonly splitting?: PartSplitting;
}

/** One call as the stand-in received it. */
export interface StandInCall {
  readonly endpoint: string;
  readonly contentType: string;
  readonly inferenceId: string | undefined;
  readonly body: { inputs?: string; parameters?: Record<string, unknown>; stream?: boolean };
}

const VOCABULARY = ['the', 'model', 'streams', 'tokens', 'to', 'you', 'one', 'at', 'a', 'time', 'while', 'it', 'thinks', 'about', 'serverless', 'GPU', 'endpoints', 'and', 'latency', 'naïve', 'café', '—', 'über', 'data'];

export class LlmStandIn {
  readonly calls: StandInCall[] = [];
  private readonly scripts = new Map<string, StandInBehaviour[]>();
  private readonly open = new Set<ServerResponse>();
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private server: Server | undefined;
  url = '';

  constructor(private readonly options: LlmStandInOptions) {}

  /** The next calls to `endpoint` behave as listed, then 'ok'. */
  script(endpoint: string, ...behaviours: StandInBehaviour[]): void {
    this.scripts.set(endpoint, behaviours);
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.url = `http://${host}:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/endpoints\/([^/]+)\/invocations-response-stream$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return this.error(res, 404, 'UnknownOperationException', 'no such operation');
    const endpoint = decodeURIComponent(match[1]!);
    let body: StandInCall['body'];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StandInCall['body'];
    } catch {
      return this.error(res, 424, 'ModelError', 'Received client error (400) from primary with message "body is not JSON"', { OriginalStatusCode: 400 });
    }
    this.calls.push({ endpoint, contentType: req.headers['content-type'] ?? '', inferenceId: req.headers['x-amzn-sagemaker-inference-id'] as string | undefined, body });
    if (!this.options.endpoints.includes(endpoint)) return this.error(res, 400, 'ValidationError', `Endpoint ${endpoint} of account 123456789012 not found.`);
    const behaviour = this.scripts.get(endpoint)?.shift() ?? 'ok';
    if (behaviour === 'throttle') return this.error(res, 429, 'ThrottlingException', 'Rate exceeded');
    if (behaviour === 'unavailable') return this.error(res, 503, 'ServiceUnavailable', 'Service unavailable');
    if (behaviour === 'model-error') {
      return this.error(res, 424, 'ModelError', 'Received client error (400) from primary with message "max_new_tokens too large for this model"', { OriginalStatusCode: 400 });
    }
    await this.stream(res, body, behaviour);
  }

  /** Generates and streams the tokens, or fails part-way as scripted. */
  private async stream(res: ServerResponse, body: StandInCall['body'], behaviour: Exclude<StandInBehaviour, 'throttle' | 'unavailable' | 'model-error'>): Promise<void> {
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-sagemaker-content-type': 'application/jsonlines',
      'x-amzn-invoked-production-variant': 'AllTraffic',
    });
    const prompt = body.inputs ?? '';
    const maxTokens = Math.max(1, Math.min(Number(body.parameters?.max_new_tokens ?? 32), 4096));
    const random = new Random(hash(prompt));
    const failAfter = typeof behaviour === 'object' ? behaviour.afterTokens : Infinity;
    let generated = '';
    await sleep(this.options.firstTokenDelayMs ?? 40);
    for (let i = 0; i < maxTokens; i++) {
      if (res.destroyed) return;
      if (i === failAfter && typeof behaviour === 'object') {
        if (behaviour.kind === 'stall') return;
        res.end(this.exception('ModelStreamError', { Message: 'CUDA out of memory while generating', ErrorCode: 'ModelStreamError' }));
        return;
      }
      const text = `${i === 0 ? '' : ' '}${VOCABULARY[Math.floor(random.next() * VOCABULARY.length)]}`;
      generated += text;
      const last = i === maxTokens - 1;
      const line = JSON.stringify({
        token: { id: 1000 + i, text, log_prob: -random.next(), special: false },
        generated_text: last ? generated : null,
        details: last ? { finish_reason: 'length', generated_tokens: maxTokens, inputs: prompt } : null,
      });
      for (const part of this.parts(`${line}\n`)) res.write(this.payloadPart(part));
      if (!last) await sleep(this.options.tokenDelayMs ?? 15);
    }
    res.end();
  }

  /** A line's bytes as PayloadPart payloads: whole, or cut in two at an arbitrary byte (possibly inside a character). */
  private parts(line: string): Uint8Array[] {
    const bytes = new TextEncoder().encode(line);
    if ((this.options.splitting ?? 'split-lines') === 'line' || bytes.length < 4) return [bytes];
    // Cut inside a multi-byte character when there is one, else in the middle.
    const multiByte = bytes.findIndex((b) => b >= 0x80);
    const cut = multiByte > 0 ? multiByte + 1 : Math.floor(bytes.length / 2);
    return [bytes.subarray(0, cut), bytes.subarray(cut)];
  }

  private payloadPart(bytes: Uint8Array): Uint8Array {
    const message: Message = {
      headers: {
        ':message-type': { type: 'string', value: 'event' },
        ':event-type': { type: 'string', value: 'PayloadPart' },
        ':content-type': { type: 'string', value: 'application/octet-stream' },
      },
      body: bytes,
    };
    return this.codec.encode(message);
  }

  private exception(type: 'ModelStreamError' | 'InternalStreamFailure', body: object): Uint8Array {
    return this.codec.encode({
      headers: {
        ':message-type': { type: 'string', value: 'exception' },
        ':exception-type': { type: 'string', value: type },
        ':content-type': { type: 'string', value: 'application/json' },
      },
      body: new TextEncoder().encode(JSON.stringify(body)),
    });
  }

  private error(res: ServerResponse, status: number, type: string, message: string, extra: object = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message, ...extra }));
  }
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

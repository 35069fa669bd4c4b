import { z } from 'zod';
import { ProtocolError } from './errors';

/**
 * The streaming text-generation protocol, as pure functions: the caller's request, the body sent
 * to an LMI (DJL Serving, vLLM rolling batch) or TGI container, the container's streamed JSON
 * lines, the events the caller receives (Server-Sent Events), and the timing of a generation.
 * The SageMaker call and the HTTP transport are the adapters' (functions/llm-stream, local/).
 */

// --- The caller's request --------------------------------------------------------------------

/** Limits of one generation request. */
export interface GenerateLimits {
  /** Longest prompt, in characters. */
  readonly maxPromptChars: number;
  /** Most tokens one request may ask for. */
  readonly maxNewTokens: number;
}

export const DEFAULT_GENERATE_LIMITS: GenerateLimits = { maxPromptChars: 16_000, maxNewTokens: 1024 };

function generateRequestSchema(limits: GenerateLimits) {
  return z.strictObject({
    prompt: z.string().min(1, 'must not be empty').max(limits.maxPromptChars, `must be at most ${limits.maxPromptChars} characters`),
    max_new_tokens: z.number().int('must be a whole number').min(1).max(limits.maxNewTokens, `must be at most ${limits.maxNewTokens}`).default(256),
    temperature: z.number().min(0).max(2).default(0.7),
    top_p: z.number().gt(0).max(1).default(0.9),
    stop: z.array(z.string().min(1).max(64)).max(4, 'at most 4 stop sequences').default([]),
    seed: z.number().int().min(0).optional(),
  });
}

/** A validated generation request, defaults filled in. */
export type GenerateRequest = z.output<ReturnType<typeof generateRequestSchema>>;

/** Validates a request body; a bad one is a 400 that names the field (`max_new_tokens`, `stop[2]`, …). */
export function parseGenerateRequest(body: unknown, limits: GenerateLimits = DEFAULT_GENERATE_LIMITS): GenerateRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProtocolError(400, 'invalid_request', 'the body must be a JSON object such as {"prompt": "…", "max_new_tokens": 128}', { field: 'body' });
  }
  const result = generateRequestSchema(limits).safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field =
    issue.code === 'unrecognized_keys'
      ? issue.keys[0]!
      : issue.path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('') || 'body';
  let message: string;
  if (issue.code === 'unrecognized_keys') message = `unknown field "${field}"; the fields are prompt, max_new_tokens, temperature, top_p, stop, seed`;
  else if (issue.code === 'invalid_type' && issue.input === undefined) message = `"${field}" is required`;
  else if (issue.code === 'invalid_type') message = `"${field}" must be a ${issue.expected}, got ${JSON.stringify(issue.input)?.slice(0, 60)}`;
  else message = `"${field}" ${issue.message}`;
  throw new ProtocolError(400, 'invalid_request', message, { field });
}

/**
 * The body for the container: LMI's rolling-batch schema (`inputs`, `parameters`, `stream`), which
 * TGI accepts too. `details` asks for the finish reason on the last line.
 */
export function buildLmiRequest(request: GenerateRequest): { body: Uint8Array; contentType: 'application/json' } {
  const parameters = {
    max_new_tokens: request.max_new_tokens,
    // Greedy decoding at temperature 0: vLLM treats 0 as greedy, TGI refuses it with do_sample.
    do_sample: request.temperature > 0,
    ...(request.temperature > 0 ? { temperature: request.temperature, top_p: request.top_p } : {}),
    ...(request.stop.length ? { stop: request.stop } : {}),
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    details: true,
  };
  return { body: new TextEncoder().encode(JSON.stringify({ inputs: request.prompt, parameters, stream: true })), contentType: 'application/json' };
}

// --- The container's stream --------------------------------------------------------------------

/**
 * Splits the bytes of the streamed PayloadParts into lines. A part may end in the middle of a JSON
 * line, or of a multi-byte UTF-8 character, so the tail is kept for the next part. (Node's
 * readline would need a Readable and is not available to this pure module; the logic is a buffer
 * and an index.)
 */
export class JsonLineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private tail = '';

  /** The complete, non-empty lines the bytes finish. */
  push(bytes: Uint8Array): string[] {
    const text = this.tail + this.decoder.decode(bytes, { stream: true });
    const lines = text.split('\n');
    this.tail = lines.pop()!;
    return lines.map((line) => line.replace(/\r$/, '')).filter((line) => line.trim() !== '');
  }

  /** The last line, when the stream ended without a newline. */
  end(): string[] {
    const rest = (this.tail + this.decoder.decode()).trim();
    this.tail = '';
    return rest ? [rest] : [];
  }
}

/** What one line of the container's stream means. */
export type ModelStreamEvent =
  | { readonly type: 'token'; readonly text: string; /** An end-of-sequence or other special token: counted, not shown. */ readonly special: boolean }
  | { readonly type: 'end'; readonly finishReason?: string }
  | { readonly type: 'error'; readonly message: string };

/** A line that is neither of the formats the parser knows. */
export class StreamFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamFormatError';
  }
}

const TokenLine = z.object({
  token: z.object({ text: z.string(), special: z.boolean().optional() }).passthrough(),
  generated_text: z.string().nullish(),
  details: z.object({ finish_reason: z.string().optional() }).passthrough().nullish(),
});
const ChoicesLine = z.object({
  choices: z.array(z.object({ delta: z.object({ content: z.string().nullish() }).passthrough().optional(), text: z.string().nullish(), finish_reason: z.string().nullish() }).passthrough()).min(1),
});
const ErrorLine = z.object({ error: z.union([z.string(), z.object({ message: z.string() }).passthrough()]) });

/**
 * The events of one streamed line, in the formats LMI and TGI write: `{"token": {"text": …}}` per
 * token, the last one also carrying `generated_text` and `details.finish_reason`; TGI's
 * `data:`-prefixed variant; the OpenAI-style `{"choices": [{"delta": {"content": …}}]}` of LMI's
 * chat schema; and `{"error": …}` when the server fails mid-generation.
 */
export function parseStreamLine(line: string): ModelStreamEvent[] {
  const payload = line.startsWith('data:') ? line.slice(5).trim() : line.trim();
  if (payload === '[DONE]') return [];
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new StreamFormatError(`a streamed line is not JSON: ${payload.slice(0, 120)}`);
  }
  const token = TokenLine.safeParse(value);
  if (token.success) {
    const { token: t, generated_text: generated, details } = token.data;
    const events: ModelStreamEvent[] = [{ type: 'token', text: t.text, special: t.special ?? false }];
    if (generated !== undefined && generated !== null) events.push({ type: 'end', finishReason: details?.finish_reason });
    return events;
  }
  const choices = ChoicesLine.safeParse(value);
  if (choices.success) {
    const [choice] = choices.data.choices;
    const text = choice!.delta?.content ?? choice!.text ?? '';
    const events: ModelStreamEvent[] = text ? [{ type: 'token', text, special: false }] : [];
    if (choice!.finish_reason) events.push({ type: 'end', finishReason: choice!.finish_reason });
    return events;
  }
  const error = ErrorLine.safeParse(value);
  if (error.success) return [{ type: 'error', message: typeof error.data.error === 'string' ? error.data.error : error.data.error.message }];
  throw new StreamFormatError(`a streamed line has neither "token", "choices" nor "error": ${payload.slice(0, 120)}`);
}

// --- Timing --------------------------------------------------------------------------------

/** What a finished (or failed) generation measured. */
export interface GenerationSummary {
  /** Tokens the model produced, special tokens included. */
  readonly tokens: number;
  /** From the request to the first token; undefined when no token came. */
  readonly timeToFirstTokenMs?: number;
  /**
   * Decode throughput: tokens after the first per second between the first and the last token.
   * TTFT measures the wait (queueing, prefill); this measures the speed after it, so neither hides
   * the other. Undefined with fewer than two tokens.
   */
  readonly tokensPerSecond?: number;
  /** From the request to the end of the stream. */
  readonly durationMs: number;
}

/** Times a generation: its start, first token and last token. */
export class GenerationTimer {
  private readonly startedAt: number;
  private firstAt: number | undefined;
  private lastAt: number | undefined;
  private count = 0;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.startedAt = now();
  }

  /** Records one token; the first one fixes the time to first token. */
  token(): void {
    const at = this.now();
    this.firstAt ??= at;
    this.lastAt = at;
    this.count++;
  }

  get tokens(): number {
    return this.count;
  }

  /** Whether a token has arrived (after which the caller has bytes and a retry is no longer possible). */
  get started(): boolean {
    return this.firstAt !== undefined;
  }

  summary(): GenerationSummary {
    const end = this.now();
    const decodeMs = this.firstAt !== undefined && this.lastAt !== undefined ? this.lastAt - this.firstAt : 0;
    return {
      tokens: this.count,
      timeToFirstTokenMs: this.firstAt !== undefined ? this.firstAt - this.startedAt : undefined,
      tokensPerSecond: this.count >= 2 && decodeMs > 0 ? ((this.count - 1) * 1000) / decodeMs : undefined,
      durationMs: end - this.startedAt,
    };
  }
}

// --- The caller's stream (Server-Sent Events) --------------------------------------------------

/** Media type of the stream the caller receives. */
export const EVENT_STREAM = 'text/event-stream; charset=utf-8';

/**
 * One Server-Sent Event. The caller's stream is `event: token` with `{"text": …}` per token,
 * then one `event: done` with the summary, or one `event: error` with `{error, code}` when the
 * generation fails after it started. SSE because browsers (fetch, EventSource) and `curl -N`
 * read it as it arrives, and each event is one JSON object whatever the text holds.
 */
export function sseEvent(event: 'token' | 'done' | 'error', data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The `done` event's data. */
export function doneEventData(summary: GenerationSummary, finishReason: string | undefined): Record<string, unknown> {
  return {
    finish_reason: finishReason ?? 'unknown',
    tokens: summary.tokens,
    time_to_first_token_ms: summary.timeToFirstTokenMs !== undefined ? round(summary.timeToFirstTokenMs) : null,
    tokens_per_second: summary.tokensPerSecond !== undefined ? round(summary.tokensPerSecond) : null,
  };
}

/** Parses a Server-Sent Events text into its events (for clients and tests of this protocol). */
export function parseSse(text: string): Array<{ event: string; data: unknown }> {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data: JSON.parse(data) as unknown };
    });
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

// --- Percentiles ---------------------------------------------------------------------------

/** Nearest-rank percentiles (q in 0..1) of the values; null for none. */
export function percentiles(values: readonly number[], qs: readonly number[]): Array<number | null> {
  if (values.length === 0) return qs.map(() => null);
  const sorted = [...values].sort((a, b) => a - b);
  return qs.map((q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
}

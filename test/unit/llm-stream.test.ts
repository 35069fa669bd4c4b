import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../core/protocol/errors';
import {
  buildLmiRequest,
  GenerationTimer,
  JsonLineSplitter,
  parseGenerateRequest,
  parseSse,
  parseStreamLine,
  percentiles,
  sseEvent,
  StreamFormatError,
} from '../../core/protocol/llm-stream';
import { classifyEndpointError } from '../../core/protocol/triton';

function rejection(body: unknown): ProtocolError {
  try {
    parseGenerateRequest(body, { maxPromptChars: 100, maxNewTokens: 512 });
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('the body was accepted');
}

describe('parseGenerateRequest', () => {
  it('fills in the defaults of a request that has only a prompt', () => {
    expect(parseGenerateRequest({ prompt: 'Hello' })).toEqual({ prompt: 'Hello', max_new_tokens: 256, temperature: 0.7, top_p: 0.9, stop: [] });
  });

  it('rejects a max_new_tokens given as a string, naming the field', () => {
    const error = rejection({ prompt: 'Hello', max_new_tokens: 'many' });

    expect(error.status).toBe(400);
    expect(error.location.field).toBe('max_new_tokens');
    expect(error.message).toBe('"max_new_tokens" must be a number, got "many"');
  });

  it('rejects a max_new_tokens above the configured limit', () => {
    const error = rejection({ prompt: 'Hello', max_new_tokens: 513 });

    expect(error.location.field).toBe('max_new_tokens');
    expect(error.message).toContain('at most 512');
  });

  it('says that a missing prompt is required', () => {
    const error = rejection({ max_new_tokens: 10 });

    expect(error.location.field).toBe('prompt');
    expect(error.message).toBe('"prompt" is required');
  });

  it('rejects a prompt longer than the limit', () => {
    expect(rejection({ prompt: 'x'.repeat(101) }).location.field).toBe('prompt');
  });

  it('names the bad element of stop', () => {
    expect(rejection({ prompt: 'Hello', stop: ['\n', ''] }).location.field).toBe('stop[1]');
  });

  it('names an unknown field', () => {
    const error = rejection({ prompt: 'Hello', max_tokens: 10 });

    expect(error.location.field).toBe('max_tokens');
    expect(error.message).toContain('unknown field "max_tokens"');
  });

  it('rejects a body that is not an object', () => {
    expect(rejection(['Hello']).location.field).toBe('body');
  });
});

describe('buildLmiRequest', () => {
  it('asks the container for a stream in the rolling-batch schema', () => {
    const body = JSON.parse(new TextDecoder().decode(buildLmiRequest(parseGenerateRequest({ prompt: 'Hi', max_new_tokens: 5, stop: ['\n'] })).body));

    expect(body).toEqual({ inputs: 'Hi', stream: true, parameters: { max_new_tokens: 5, do_sample: true, temperature: 0.7, top_p: 0.9, stop: ['\n'], details: true } });
  });

  it('decodes greedily at temperature 0', () => {
    const body = JSON.parse(new TextDecoder().decode(buildLmiRequest(parseGenerateRequest({ prompt: 'Hi', temperature: 0 })).body));

    expect(body.parameters).toEqual({ max_new_tokens: 256, do_sample: false, details: true });
  });
});

describe('JsonLineSplitter', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  it('keeps a line cut across two parts until its end arrives', () => {
    const lines = new JsonLineSplitter();

    expect(lines.push(bytes('{"token":{"te'))).toEqual([]);
    expect(lines.push(bytes('xt":"a"}}\n{"tok'))).toEqual(['{"token":{"text":"a"}}']);
  });

  it('reassembles a UTF-8 character cut between parts', () => {
    const whole = bytes('{"token":{"text":"café"}}\n');
    const cut = whole.indexOf(0xc3) + 1;
    const lines = new JsonLineSplitter();

    const out = [...lines.push(whole.subarray(0, cut)), ...lines.push(whole.subarray(cut))];

    expect(out).toEqual(['{"token":{"text":"café"}}']);
  });

  it('returns every line of a part that holds several, skipping blank ones', () => {
    expect(new JsonLineSplitter().push(bytes('a\r\n\nb\nc'))).toEqual(['a', 'b']);
  });

  it('returns a last line that has no newline when the stream ends', () => {
    const lines = new JsonLineSplitter();
    lines.push(bytes('{"x":1}'));

    expect(lines.end()).toEqual(['{"x":1}']);
  });
});

describe('parseStreamLine', () => {
  it('reads a token line of LMI', () => {
    expect(parseStreamLine('{"token":{"id":5,"text":" the","log_prob":-0.2},"generated_text":null,"details":null}')).toEqual([{ type: 'token', text: ' the', special: false }]);
  });

  it('reads the last line as a token and the end, with the finish reason', () => {
    expect(parseStreamLine('{"token":{"id":6,"text":"."},"generated_text":"the.","details":{"finish_reason":"eos_token"}}')).toEqual([
      { type: 'token', text: '.', special: false },
      { type: 'end', finishReason: 'eos_token' },
    ]);
  });

  it('reads TGI lines with their data: prefix, and marks special tokens', () => {
    expect(parseStreamLine('data:{"token":{"id":2,"text":"</s>","special":true},"generated_text":null}')).toEqual([{ type: 'token', text: '</s>', special: true }]);
  });

  it('reads the OpenAI-style chunks of the chat schema', () => {
    expect(parseStreamLine('data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}')).toEqual([{ type: 'token', text: 'Hi', special: false }]);
    expect(parseStreamLine('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')).toEqual([{ type: 'end', finishReason: 'stop' }]);
    expect(parseStreamLine('data: [DONE]')).toEqual([]);
  });

  it('reads an error the server writes into the stream', () => {
    expect(parseStreamLine('{"error":"CUDA out of memory","code":424}')).toEqual([{ type: 'error', message: 'CUDA out of memory' }]);
  });

  it('throws on a line that is not JSON', () => {
    expect(() => parseStreamLine('<html>502 Bad Gateway</html>')).toThrow(StreamFormatError);
  });

  it('throws on JSON of no known shape', () => {
    expect(() => parseStreamLine('{"outputs":["x"]}')).toThrow(/neither "token", "choices" nor "error"/);
  });
});

describe('GenerationTimer', () => {
  function clock(...times: number[]) {
    return () => times.shift()!;
  }

  it('measures the time to the first token and the decode rate after it', () => {
    // Start at 0, tokens at 100, 150, 200, 250, 300 ms, summary at 310.
    const timer = new GenerationTimer(clock(0, 100, 150, 200, 250, 300, 310));
    for (let i = 0; i < 5; i++) timer.token();

    expect(timer.summary()).toEqual({ tokens: 5, timeToFirstTokenMs: 100, tokensPerSecond: 20, durationMs: 310 });
  });

  it('reports no rate for a single token and no time to first token for none', () => {
    const one = new GenerationTimer(clock(0, 40, 50));
    one.token();
    const none = new GenerationTimer(clock(0, 50));

    expect(one.summary()).toEqual({ tokens: 1, timeToFirstTokenMs: 40, tokensPerSecond: undefined, durationMs: 50 });
    expect(none.summary()).toEqual({ tokens: 0, timeToFirstTokenMs: undefined, tokensPerSecond: undefined, durationMs: 50 });
  });
});

describe('Server-Sent Events', () => {
  it('round-trips events whose text holds newlines', () => {
    const text = sseEvent('token', { text: 'a\n\nb' }) + sseEvent('done', { tokens: 1 });

    expect(parseSse(text)).toEqual([
      { event: 'token', data: { text: 'a\n\nb' } },
      { event: 'done', data: { tokens: 1 } },
    ]);
  });
});

describe('percentiles', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);

    expect(percentiles(values, [0.5, 0.95, 0.99])).toEqual([50, 95, 99]);
  });

  it('is null without values', () => {
    expect(percentiles([], [0.5])).toEqual([null]);
  });
});

describe('classifyEndpointError on stream errors', () => {
  it('treats a ModelStreamError as the model failing, an InternalStreamFailure as SageMaker failing', () => {
    expect(classifyEndpointError({ name: 'ModelStreamError', $fault: 'client' })).toBe('model');
    expect(classifyEndpointError({ name: 'InternalStreamFailure', $fault: 'server' })).toBe('unavailable');
  });
});

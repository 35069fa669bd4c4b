import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../core/protocol/llm-stream';
import { type RunningPlatform, startPlatform } from '../../local/platform';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/** `npm start`'s LLM route: the Lambda's streaming code against the local SageMaker runtime stand-in, and the dashboard's percentiles. */

const tmp = useTempDir('mlops-local-llm-');
let platform: RunningPlatform;

beforeAll(async () => {
  platform = await startPlatform({ home: tmp.path, port: 0, s3Port: await freePort(), monitorSeconds: 0 }, () => {});
});

afterAll(async () => {
  await platform?.stop();
});

function generate(body: unknown): Promise<Response> {
  return fetch(`${platform.apiUrl}/llm/stand-in/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('the local LLM route', () => {
  it('streams Server-Sent Events from the stand-in through the same code as the Lambda', async () => {
    const response = await generate({ prompt: 'Tell me about GPUs', max_new_tokens: 5 });

    const events = parseSse(await response.text());
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(events.filter((e) => e.event === 'token')).toHaveLength(5);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { finish_reason: 'length', tokens: 5 } });
  });

  it('answers a bad body with 400 naming the field, beside the inference API', async () => {
    const response = await generate({ prompt: '' });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'prompt' });
  });

  it('leaves the inference API to the other routes', async () => {
    expect((await fetch(`${platform.apiUrl}/v2/health/live`)).status).toBe(200);
  });

  it("shows p50, p95 and p99 of time to first token and tokens/s on the dashboard's overview", async () => {
    await Promise.all([generate({ prompt: 'a', max_new_tokens: 4 }), generate({ prompt: 'b', max_new_tokens: 4 })].map(async (r) => (await r).text()));

    const overview = (await (await fetch(`${platform.apiUrl}/api/overview`)).json()) as { llm: Array<Record<string, unknown>> };

    expect(overview.llm).toEqual([
      expect.objectContaining({
        model: 'stand-in',
        failed: 0,
        timeToFirstTokenMs: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
        tokensPerSecond: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
      }),
    ]);
    expect(overview.llm[0]!.generations).toBeGreaterThanOrEqual(3);
  });
});

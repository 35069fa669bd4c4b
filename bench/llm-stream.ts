import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { buildLmiRequest, JsonLineSplitter, parseGenerateRequest, parseStreamLine, percentiles } from '../core/protocol/llm-stream';
import { createSageMakerRuntimeClient } from '../functions/endpoint-proxy/sagemaker';
import { createLlmStreamApp } from '../functions/llm-stream/app';
import { llmStreamEnv } from '../functions/llm-stream/env';
import { LlmStandIn } from '../local/llm-stand-in';
import { llmRoute } from '../local/llm-route';

/**
 * What the streaming path adds to time to first token and takes from tokens/s, side by side in
 * one run: the same stand-in endpoint (50 ms to the first token, then one token every 10 ms — a
 * GPU-like pace; it is a token generator, not a model) read (1) directly with the SDK, as a
 * client of InvokeEndpointWithResponseStream would, and (2) through the local route that runs the
 * Lambda's streamGeneration (validation, the SDK call, line parsing, SSE over a second HTTP hop).
 * Measured at the client, sequentially and with 16 concurrent streams.
 * Run: npm run bench:llm
 */

const ENDPOINT = 'bench-llm';
const TOKENS = 64;
const prompt = 'Explain response streaming in one paragraph.';

interface Run {
  ttftMs: number;
  tokensPerSecond: number;
}

async function main(): Promise<void> {
  // The SDK's notice about Node 22 is noise in a benchmark's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const standIn = new LlmStandIn({ endpoints: [ENDPOINT], firstTokenDelayMs: 50, tokenDelayMs: 10 });
  await standIn.start();
  const client = createSageMakerRuntimeClient({ endpoint: standIn.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const app = createLlmStreamApp(llmStreamEnv({ MODEL_NAME: 'bench', ENDPOINT_NAME: ENDPOINT }), client);
  // What the function itself records as time to first token (its metric), next to what the client sees.
  const recorded: number[] = [];
  const route = llmRoute(new Map([['bench', app]]), (outcome) => recorded.push(outcome.summary.timeToFirstTokenMs ?? Number.NaN));
  const server = createServer((req, res) => void route(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/llm/bench/generate`;
  const payload = buildLmiRequest(parseGenerateRequest({ prompt, max_new_tokens: TOKENS }));

  const direct = async (): Promise<Run> => {
    const start = performance.now();
    const response = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: ENDPOINT, Body: payload.body, ContentType: payload.contentType }));
    const lines = new JsonLineSplitter();
    let first = 0;
    let last = 0;
    let tokens = 0;
    for await (const event of response.Body!) {
      for (const line of lines.push(event.PayloadPart?.Bytes ?? new Uint8Array())) {
        if (parseStreamLine(line).some((e) => e.type === 'token')) {
          last = performance.now();
          first ||= last;
          tokens++;
        }
      }
    }
    return { ttftMs: first - start, tokensPerSecond: ((tokens - 1) * 1000) / (last - first) };
  };

  const proxied = async (): Promise<Run> => {
    const start = performance.now();
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_new_tokens: TOKENS }) });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let first = 0;
    let last = 0;
    let tokens = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const count = decoder.decode(value, { stream: true }).split('event: token').length - 1;
      if (count > 0) {
        last = performance.now();
        first ||= last;
        tokens += count;
      }
    }
    if (tokens !== TOKENS) throw new Error(`expected ${TOKENS} tokens through the route, got ${tokens}`);
    return { ttftMs: first - start, tokensPerSecond: ((tokens - 1) * 1000) / (last - first) };
  };

  const measure = async (call: () => Promise<Run>, rounds: number, concurrency: number): Promise<Run[]> => {
    const runs: Run[] = [];
    for (let r = 0; r < rounds; r++) runs.push(...(await Promise.all(Array.from({ length: concurrency }, call))));
    return runs;
  };

  // Warm-up: connections, JIT.
  await measure(direct, 3, 1);
  await measure(proxied, 3, 1);

  const table: string[][] = [];
  for (const [label, rounds, concurrency] of [['sequential', 30, 1], ['16 concurrent', 4, 16]] as const) {
    const a = await measure(direct, rounds, concurrency);
    recorded.length = 0;
    const b = await measure(proxied, rounds, concurrency);
    const [r50] = percentiles(recorded, [0.5]);
    const [d50, d95] = percentiles(a.map((r) => r.ttftMs), [0.5, 0.95]);
    const [p50, p95] = percentiles(b.map((r) => r.ttftMs), [0.5, 0.95]);
    const [dr] = percentiles(a.map((r) => r.tokensPerSecond), [0.5]);
    const [pr] = percentiles(b.map((r) => r.tokensPerSecond), [0.5]);
    table.push([label, `${d50!.toFixed(1)} / ${d95!.toFixed(1)}`, `${p50!.toFixed(1)} / ${p95!.toFixed(1)}`, `+${(p50! - d50!).toFixed(1)} ms`, `${r50!.toFixed(1)}`, `${dr!.toFixed(1)} → ${pr!.toFixed(1)} (${(pr! / dr!).toFixed(2)}x)`]);
  }
  console.log(`streaming overhead: ${TOKENS} tokens per request, stand-in at 50 ms to first token + 10 ms per token`);
  console.log(['load', 'TTFT direct p50/p95 (ms)', 'TTFT via route p50/p95 (ms)', 'added p50', 'TTFT the function records p50 (ms)', 'tokens/s p50 direct → route'].join(' | '));
  for (const row of table) console.log(row.join(' | '));

  server.closeAllConnections();
  server.close();
  client.destroy();
  await standIn.close();
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});

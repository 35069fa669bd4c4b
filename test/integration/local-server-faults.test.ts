import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine } from '../../core/model/engine';
import { ModelRepository, StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { dashboardRoutes } from '../../local/dashboard/routes';
import { RequestStats } from '../../local/dashboard/request-stats';
import { createSageMakerRuntimeClient } from '../../functions/endpoint-proxy/sagemaker';
import { createLlmStreamApp } from '../../functions/llm-stream/app';
import { llmStreamEnv } from '../../functions/llm-stream/env';
import { llmRoute } from '../../local/llm-route';
import { useTempDir } from '../helpers/tmp';

/** No request ends the local server: malformed targets and encodings are 400s, a route's throw is a 500. */

const tmp = useTempDir();
let url: string;
let port: number;
let close: () => Promise<void>;
const errors: unknown[] = [];
const notices: string[] = [];

/** An LLM whose endpoint is never reached: the tests abort before the body is whole. */
function unreachableLlm() {
  const client = createSageMakerRuntimeClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  return createLlmStreamApp(llmStreamEnv({ MODEL_NAME: 'chat', ENDPOINT_NAME: 'mlops-test-chat', STREAM_TIMEOUT_MS: '1000', MAX_NEW_TOKENS: '10' }), client);
}

beforeAll(async () => {
  const engine = new InferenceEngine(new StaticModelSource([]));
  const data = new DirectoryStore(tmp.file('data'));
  const llm = llmRoute(new Map([['chat', unreachableLlm()]]));
  ({ url, close } = await startApiServer(
    { engine, onError: (error) => errors.push(error) },
    {
      port: 0,
      notice: (line) => notices.push(line),
      extra: dashboardRoutes({ models: new ModelRepository(new DirectoryStore(tmp.file('models'))), data, stats: new RequestStats(), endpoints: {} }),
      streaming: (req, res) => {
        if (req.url === '/boom') throw new Error('a bug in a streaming route');
        return llm(req, res);
      },
    },
  ));
  port = Number(new URL(url).port);
});

afterAll(async () => {
  await close?.();
});

/** Sends raw request bytes (what fetch would refuse to send) and returns the status line. */
function raw(request: string, to = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: to, host: '127.0.0.1' }, () => socket.end(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer.split('\r\n')[0]!));
    socket.on('error', reject);
  });
}

describe('the local API server under malformed requests', () => {
  it('answers 400 to an absolute-form target that is not a URL, and keeps serving', async () => {
    expect(await raw('GET http://[/v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
  });

  for (const path of ['/files/%', '/files/%E0%A4%A']) {
    it(`answers 400 to the bad percent-encoding of GET ${path}`, async () => {
      expect(await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    });
  }

  it("answers 500 with a request id when a route throws, tells the operator once, and keeps serving", async () => {
    errors.length = 0;
    const response = await fetch(`${url}/boom`);
    expect(response.status).toBe(500);
    expect(((await response.json()) as { request_id?: string }).request_id).toBeTruthy();
    expect(errors).toHaveLength(1);
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
  });
});

/** Sends the start of a request, then hangs up without the rest of its body. */
async function abortMidBody(path: string): Promise<void> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": [`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the local API server when clients go away', () => {
  for (const path of ['/v2/models/any/infer', '/llm/chat/generate']) {
    it(`logs an aborted POST ${path} as one notice line, not an error, and keeps serving`, async () => {
      errors.length = 0;
      notices.length = 0;
      await abortMidBody(path);
      await until(() => notices.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/the client went away/);
      expect(notices[0]).not.toMatch(/\n/);
      expect(errors).toHaveLength(0);
      expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    });
  }
});

describe('the local API server against slow and numerous clients', () => {
  let slow: { url: string; close: () => Promise<void> };
  let slowPort: number;

  beforeAll(async () => {
    const engine = new InferenceEngine(new StaticModelSource([]));
    slow = await startApiServer({ engine }, { port: 0, transport: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 20 } });
    slowPort = Number(new URL(slow.url).port);
  });

  afterAll(async () => {
    await slow?.close();
  });

  /** Opens a connection, writes `prefix` and waits for the server's first answer line, or its hanging up. */
  function stall(prefix: string, drip?: string): Promise<{ status: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect({ port: slowPort, host: '127.0.0.1' }, () => socket.write(prefix));
      // A byte every 100 ms keeps the socket busy, so only the server's whole-request clock can end it.
      const timer = drip ? setInterval(() => socket.writable && socket.write(drip), 100) : undefined;
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ status: answer.split('\r\n')[0]!, ms: Date.now() - started });
      });
      socket.on('error', reject);
    });
  }

  it('answers 408 to a client that never finishes its headers', async () => {
    const { status, ms } = await stall('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n');
    expect(status).toBe('HTTP/1.1 408 Request Timeout');
    expect(ms).toBeLessThan(5_000);
  });

  it('answers 408 to a body that trickles in slower than the request timeout allows', async () => {
    const { status, ms } = await stall('POST /v2/models/any/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', ' ');
    expect(status).toBe('HTTP/1.1 408 Request Timeout');
    expect(ms).toBeLessThan(5_000);
  });

  it('closes connections above the cap and keeps answering the others', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 30 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
        const socket = connect({ port: slowPort, host: '127.0.0.1' }, () => resolve(socket));
        socket.on('error', () => undefined);
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = sockets.filter((socket) => socket.destroyed || socket.readableEnded).length;
    expect(refused).toBeGreaterThanOrEqual(10);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await raw('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', slowPort)).toBe('HTTP/1.1 200 OK');
  });
});

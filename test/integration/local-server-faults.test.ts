import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine } from '../../core/model/engine';
import { ModelRepository, StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { dashboardRoutes } from '../../local/dashboard/routes';
import { RequestStats } from '../../local/dashboard/request-stats';
import { llmRoute } from '../../local/llm-route';
import { useTempDir } from '../helpers/tmp';

/** No request ends the local server: malformed targets and encodings are 400s, a route's throw is a 500. */

const tmp = useTempDir();
let url: string;
let port: number;
let close: () => Promise<void>;
const errors: unknown[] = [];

beforeAll(async () => {
  const engine = new InferenceEngine(new StaticModelSource([]));
  const data = new DirectoryStore(tmp.file('data'));
  const llm = llmRoute(new Map());
  ({ url, close } = await startApiServer(
    { engine, onError: (error) => errors.push(error) },
    {
      port: 0,
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
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => socket.end(request));
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

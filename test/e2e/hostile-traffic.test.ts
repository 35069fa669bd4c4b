import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../../core/random';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/**
 * A few thousand hostile requests, written as raw bytes (what no HTTP client would send), against
 * `npm start` and `mlops serve` in their own processes: invalid absolute-form targets, broken
 * percent-encodings, traversal, header garbage, bodies cut off or trickled. The promise: no 5xx
 * for a client's mistake, both processes alive, no stack trace in their output, and the same
 * prediction for the reference row afterwards.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = useTempDir();
const children: { process: ChildProcess; output: string }[] = [];

/** Starts a process and waits for `ready` in its output. */
async function launch(args: string[], env: Record<string, string>, ready: string): Promise<(typeof children)[number]> {
  const child = { process: spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }), output: '' };
  children.push(child);
  child.process.stdout!.setEncoding('utf8').on('data', (t: string) => (child.output += t));
  child.process.stderr!.setEncoding('utf8').on('data', (t: string) => (child.output += t));
  for (let i = 0; i < 900 && !child.output.includes(ready); i++) await new Promise((r) => setTimeout(r, 100));
  if (!child.output.includes(ready)) throw new Error(`${args.join(' ')} did not come up:\n${child.output}`);
  return child;
}

afterAll(async () => {
  for (const child of children) {
    if (child.process.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.process.once('exit', resolve));
    child.process.kill('SIGINT');
    await exited;
  }
});

/** How to send one request: its bytes, and whether to cut the connection after a part of them. */
interface RawRequest {
  readonly bytes: Buffer;
  /** Send only this many bytes, wait a moment, then hang up (a client that went away). */
  readonly abortAfter?: number;
  /** Send the bytes in pieces this many milliseconds apart (a slow client). */
  readonly trickleMs?: number;
}

/** The status code answered, or 0 when the server closed the connection without an answer. */
function send(port: number, request: RawRequest): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let answer = '';
    const done = () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0));
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      const { bytes, abortAfter, trickleMs } = request;
      if (abortAfter !== undefined) {
        socket.write(bytes.subarray(0, abortAfter));
        await new Promise((r) => setTimeout(r, 20));
        return socket.destroy();
      }
      if (trickleMs) {
        for (let at = 0; at < bytes.length && !socket.destroyed; at += 16) {
          socket.write(bytes.subarray(at, at + 16));
          await new Promise((r) => setTimeout(r, trickleMs));
        }
        return socket.end();
      }
      socket.end(bytes);
    });
  });
}

const TARGETS = [
  'http://[/v2/health/live', 'http://[::1/v2/models/demo/infer', 'http://%/x', 'http://a:99999/', 'http://', '*', '//', '/%', '/files/%', '/files/%E0%A4%A',
  '/files/../../../../etc/passwd', '/files/..%2f..%2f..%2fetc%2fpasswd', '/files/%2e%2e/%2e%2e/x', '/v2/models/%/infer', '/models/%C0%AF/predict', '/api/%ZZ', '/%00',
  `/models/${'a'.repeat(4_000)}/predict`, '/v2/models/demo/infer?%', '/api/overview?x=%', '/llm/%/generate', '/llm/stand-in/generate/%', '/assets/../../package.json',
];
const JUNK_HEADERS = [
  'Content-Length: abc', 'Content-Length: -1', 'Content-Length: 5\r\nContent-Length: 6', 'Transfer-Encoding: chunked\r\nContent-Length: 3', 'Transfer-Encoding: gzip, chunked',
  'Inference-Header-Content-Length: 999999', 'Inference-Header-Content-Length: -5', 'Content-Type: application/octet-stream', 'Content-Type: \u00ff\u00fe', 'No colon here',
  `X-Long: ${'x'.repeat(20_000)}`, 'Host: ', 'Expect: 100-continue',
];
const BODIES = ['', '{', '{"instances": [', 'null', '[]', '{"instances": [{"age": "NaN"}]}', '{"inputs": [{"name": "features", "shape": [1e9, 9], "datatype": "FP32", "data": []}]}', '{"prompt": 1}', '{"prompt": "hi", "max_tokens": -1}', '\u0000\u0001\u0002', '{"a":'.repeat(2_000)];
const PATHS = ['/models/demo/predict', '/v2/models/demo/infer', '/v2/models/demo/versions/1.0.0/infer', '/llm/stand-in/generate', '/api/overview', '/files/batch/input/x.csv', '/v2/health/ready', '/'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PROPFIND', 'FOO', 'CONNECT', 'get'];

function hostileRequest(random: Random, i: number): RawRequest {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random.next() * items.length)]!;
  const http = (method: string, target: string, headers: string[], body = '') =>
    Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}${body || method === 'POST' ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`, 'latin1');
  switch (i % 8) {
    case 0:
      return { bytes: http(pick(['GET', 'POST']), pick(TARGETS), []) };
    case 1:
      return { bytes: Buffer.from(`POST ${pick(PATHS)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${pick(JUNK_HEADERS)}\r\n\r\n${pick(BODIES)}`, 'latin1') };
    case 2:
      return { bytes: http('POST', pick(PATHS), ['Content-Type: application/json'], pick(BODIES)) };
    case 3: {
      // Cut off in the headers or in the body.
      const bytes = http('POST', pick(PATHS), ['Content-Type: application/json'], JSON.stringify({ instances: Array.from({ length: 50 }, () => churnInstance) }));
      return { bytes, abortAfter: Math.floor(random.next() * bytes.length) };
    }
    case 4:
      return { bytes: http(pick(METHODS), pick(PATHS), [], random.next() < 0.5 ? '' : '{"instances": 1}') };
    case 5:
      return { bytes: pick([Buffer.from('GET /\r\n\r\n'), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from(Array.from({ length: 200 }, () => Math.floor(random.next() * 256))), Buffer.from('GET / HTTP/9.9\r\n\r\n'), Buffer.from('\r\n\r\n\r\n')]) };
    case 6:
      // Broken chunked framing.
      return { bytes: Buffer.from(`POST ${pick(PATHS)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${pick(['zz\r\n', '5\r\nab\r\n', 'ffffffffffff\r\n', '3;x=y\r\n{"i\r\n0\r\n\r\n'])}`) };
    default:
      // A slow client: a body trickled in 16-byte pieces.
      return { bytes: http('POST', pick(PATHS.slice(0, 3)), ['Content-Type: application/json'], JSON.stringify({ instances: [churnInstance] })), trickleMs: 5 };
  }
}

/** Probabilities of the reference row: what must not change under the attack. */
async function reference(api: string): Promise<unknown> {
  const response = await fetch(`${api}/models/demo/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
  expect(response.status).toBe(200);
  return response.json();
}

const REQUESTS = 2_000;

describe.each(['npm start', 'mlops serve'])('%s under hostile traffic', { timeout: 300_000 }, (name) => {
  let api: string;
  let port: number;
  let child: (typeof children)[number];

  beforeAll(async () => {
    port = await freePort();
    api = `http://127.0.0.1:${port}`;
    if (name === 'npm start') {
      const home = tmp.file('home');
      child = await launch(['--import', 'tsx', 'local/start.ts'], { MLOPS_HOME: home, MLOPS_PORT: String(port), MLOPS_S3_PORT: String(await freePort()), MLOPS_MONITOR_SECONDS: '0' }, 'Ctrl-C stops the platform');
    } else {
      await mkdir(tmp.file('packages'), { recursive: true });
      await trainDemoPackage(tmp.file('packages'));
      child = await launch([join(root, 'bin/mlops.js'), 'serve', tmp.file('packages', 'demo', '1.0.0'), '--port', String(port)], {}, 'serving demo');
    }
  }, 300_000);

  it(`answers ${REQUESTS} hostile requests with no 5xx, stays up, and predicts the same afterwards`, async () => {
    const before = await reference(api);
    const random = new Random(15);
    const requests = Array.from({ length: REQUESTS }, (_, i) => hostileRequest(random, i));
    const statuses: number[] = [];
    const queue = [...requests.entries()];
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) statuses[next[0]] = await send(port, next[1]);
      }),
    );

    const serverErrors = statuses.flatMap((status, i) => (status >= 500 ? [`${status} for ${requests[i]!.bytes.toString('latin1').slice(0, 120)}`] : []));
    expect(serverErrors).toEqual([]);
    // Most requests get an answer (the rest were cut off by the client, or are not HTTP at all).
    expect(statuses.filter((s) => s >= 400 && s < 500).length).toBeGreaterThan(REQUESTS / 2);
    expect(child.process.exitCode).toBeNull();
    expect((await fetch(`${api}/v2/health/live`)).status).toBe(200);
    expect(await reference(api)).toEqual(before);
    expect(child.output).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  });
});

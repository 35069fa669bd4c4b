import { connect, type Socket } from 'node:net';

/**
 * A closed-loop HTTP/1.1 load generator, run as its own process (bench/serving.ts forks it) so the
 * clients never share an event loop with the server they measure: `concurrency` keep-alive
 * connections, each sending the next request as soon as the last answer has been read.
 *
 * It writes pre-built request bytes to raw sockets and reads answers by Content-Length, instead of
 * node:http's client, which costs more per request than the servers measured here: with it, the
 * client, not the server, would set the pace on a 2-core machine.
 * Takes one message { url, body (base64), headers, seconds, concurrency } and answers
 * { requests, errors, seconds, p50Ms, p99Ms }.
 */

interface Job {
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly seconds: number;
  readonly concurrency: number;
}

process.once('message', (job: Job) => {
  void run(job).then((result) => {
    process.send!(result);
    process.exit(0);
  });
});

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection: send() resolves with the status of the next complete answer. */
function connection(host: string, port: number, request: Buffer): Promise<{ send: () => Promise<number>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port, noDelay: true }, () => resolve({ send, close: () => socket.destroy() }));
    let pending: { resolve: (status: number) => void; reject: (error: Error) => void } | null = null;
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('error', (error) => (pending ? pending.reject(error) : reject(error)));
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      const end = buffer.indexOf(HEADER_END);
      if (end < 0) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
      if (Number.isNaN(length)) throw new Error(`an answer without Content-Length: ${head.slice(0, 200)}`);
      if (buffer.length < end + 4 + length) return;
      buffer = buffer.subarray(end + 4 + length);
      const done = pending!;
      pending = null;
      done.resolve(Number(head.slice(9, 12)));
    });
    const send = () =>
      new Promise<number>((resolveSend, rejectSend) => {
        pending = { resolve: resolveSend, reject: rejectSend };
        socket.write(request);
      });
  });
}

async function run(job: Job) {
  const body = Buffer.from(job.body, 'base64');
  const target = new URL(job.url);
  const headers = { host: target.host, connection: 'keep-alive', ...job.headers, 'content-length': String(body.length) };
  const head = `POST ${target.pathname} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);
  const connections = await Promise.all(Array.from({ length: job.concurrency }, () => connection(target.hostname, Number(target.port), request)));
  // Warm-up: the server's code paths compiled, its buffers grown.
  await Promise.all(connections.map(async (c) => {
    for (let i = 0; i < 20; i++) await c.send();
  }));
  let requests = 0;
  let errors = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(connections.map(async (c) => {
    while (performance.now() < end) {
      const sent = performance.now();
      const status = await c.send().catch(() => 0);
      latencies.push(performance.now() - sent);
      if (status === 200) requests++;
      else errors++;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  for (const c of connections) c.close();
  latencies.sort((a, b) => a - b);
  return { requests, errors, seconds, p50Ms: latencies[Math.floor(latencies.length / 2)] ?? 0, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

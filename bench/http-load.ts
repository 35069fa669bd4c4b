import { Agent, request } from 'node:http';

/**
 * A closed-loop HTTP load generator, run as its own process (bench/serving.ts forks it) so the
 * clients never share an event loop with the server they measure: `concurrency` keep-alive
 * connections, each sending the next request as soon as the last answer has been read.
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

async function run(job: Job) {
  const body = Buffer.from(job.body, 'base64');
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const target = new URL(job.url);
  const headers = { ...job.headers, 'content-length': String(body.length) };
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  // Warm-up: connections open, the server's code paths compiled.
  await Promise.all(Array.from({ length: job.concurrency }, async () => {
    for (let i = 0; i < 20; i++) await once();
  }));
  let requests = 0;
  let errors = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(Array.from({ length: job.concurrency }, async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      const status = await once().catch(() => 0);
      latencies.push(performance.now() - sent);
      if (status === 200) requests++;
      else errors++;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  agent.destroy();
  return { requests, errors, seconds, p50Ms: latencies[Math.floor(latencies.length / 2)] ?? 0, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

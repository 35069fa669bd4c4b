import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataPrefixes } from '../core/layout';
import { type DriftSpec, generatedHeader, generateRows } from '../model-pipeline/data/generate';
import { S3BlobStore } from '../functions/shared/s3-blob-store';
import { loadRun } from '../model-pipeline/pipeline/runner';
import { DEMO_MODEL } from './bootstrap';
import { LOCAL_BUCKETS, startPlatform } from './platform';

/**
 * `npm run demo`: the whole loop on one machine, through the platform's HTTP API and S3 API:
 * train → serve → score a batch file → inject drift → monitor alarms → retraining →
 * quantization → gated promotion → traffic on the new version. Prints a summary at the end.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const started = Date.now();
const summary: { stage: string; result: string }[] = [];
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
const header = generatedHeader();
const features = header.filter((h) => h !== 'customer_id' && h !== 'churned');

function instances(rows: number, seed: number, drift: DriftSpec = {}) {
  return [...generateRows({ rows, seed, drift })].map((r) => Object.fromEntries(features.map((f) => {
    const value = r.cells[header.indexOf(f)]!;
    return [f, /^-?[\d.]+$/.test(value) ? Number(value) : value];
  })));
}

async function main(): Promise<void> {
  const home = process.env.MLOPS_HOME ?? (await mkdtemp(join(tmpdir(), 'mlops-demo-')));
  say(`platform home ${home}`);
  // A short canary at half the traffic, so the demo's own requests judge the retrained model in seconds.
  const platform = await startPlatform({ home, port: 0, s3Port: 0, monitorSeconds: 0, canarySeconds: 10, canaryWeight: 0.5 }, (line) => say(line));
  const api = platform.apiUrl;
  const send = async (rows: ReturnType<typeof instances>) => {
    let version = '';
    for (let i = 0; i < rows.length; i += 10) {
      const response = await fetch(`${api}/models/${DEMO_MODEL.name}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: rows.slice(i, i + 10) }) });
      if (response.status !== 200) throw new Error(`predict answered ${response.status}: ${await response.text()}`);
      version = ((await response.json()) as { model_version: string }).model_version;
    }
    await platform.capture.flush();
    return version;
  };
  try {
    const registry = await platform.engine.repository.servingVersion(DEMO_MODEL.name);
    summary.push({ stage: 'train', result: `demo ${registry} serving (dashboard ${api}/)` });

    say('serve: 1,000 predictions of everyday traffic through the API');
    const v1 = await send(instances(1000, 101));
    summary.push({ stage: 'serve', result: `1,000 rows predicted by ${v1}, captured to s3://${LOCAL_BUCKETS.data}/capture/` });

    say('batch: dropping a 2,000-row CSV with 3 bad rows into batch/input/');
    const rows = [...generateRows({ rows: 2000, seed: 202 })].map((r) => r.cells.join(','));
    const csv = [header.join(','), ...rows, 'bad1,forty,1,2,3,4,5,pro,na,web,no', 'bad2,41,1,2,3,4,5,gold,na,web,no', '"bad3,1,2'].join('\n');
    await platform.s3.client.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: `${DataPrefixes.batchInput}demo/customers.csv`, Body: csv }));
    let manifest: { rowsIn: number; scored: number; rejected: number } | undefined;
    for (let i = 0; i < 200 && !manifest; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await platform.batch.idle();
      manifest = await platform.s3.client
        .send(new GetObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: `${DataPrefixes.batchManifests}demo/customers.csv.manifest.json` }))
        .then(async (r) => JSON.parse(await r.Body!.transformToString()))
        .catch(() => undefined);
    }
    if (!manifest) throw new Error('the batch job did not finish');
    summary.push({ stage: 'batch', result: `${manifest.rowsIn} rows in: ${manifest.scored} scored, ${manifest.rejected} rejected with line and reason` });

    say('monitor: first pass on everyday traffic');
    const calm = (await platform.monitor.runOnce())[0];
    summary.push({ stage: 'monitor', result: calm?.status === 'reported' ? `${calm.rows} rows: ${calm.alert ? 'DRIFT' : 'no drift'}` : `waiting: ${calm?.status === 'waiting' ? calm.reason : '?'}` });

    say('inject drift: customers stay longer and churn for other reasons; labels arrive for 3,000 of them');
    const drift: DriftSpec = { meanShift: { tenure_months: 0.8 }, concept: 0.9 };
    const labelled = [...generateRows({ rows: 3000, seed: 303, drift })].map((r) => r.cells.join(','));
    await platform.s3.client.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: `${DataPrefixes.labels}demo/${new Date().toISOString().slice(0, 10)}/labels.csv`, Body: [header.join(','), ...labelled].join('\n') }));
    await send(instances(1000, 404, drift));
    const first = (await platform.monitor.runOnce())[0];
    summary.push({ stage: 'drift 1', result: first?.status === 'reported' ? `${first.alert ? `DRIFT in ${first.report.dataset.driftedFeatures.join(', ')}` : 'no drift'}; confirmed: ${first.confirmed}` : 'waiting' });

    say('more drifted traffic; the second alerting run confirms drift and starts retraining; the candidate then serves as a canary while traffic flows');
    await send(instances(1000, 505, drift));
    let passing = true;
    const pass = platform.monitor.runOnce().finally(() => (passing = false));
    const answeredBy = new Map<string, number>();
    const traffic = (async () => {
      const rows = instances(500, 707, drift);
      for (let i = 0; passing; i = (i + 10) % rows.length) {
        const response = await fetch(`${api}/models/${DEMO_MODEL.name}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: rows.slice(i, i + 10) }) });
        if (response.status !== 200) throw new Error(`predict answered ${response.status}: ${await response.text()}`);
        const version = ((await response.json()) as { model_version: string }).model_version;
        answeredBy.set(version, (answeredBy.get(version) ?? 0) + 1);
        // Requests arrive over the whole run, not in one burst: the canary window sees steady traffic.
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const second = (await pass)[0];
    await traffic;
    summary.push({ stage: 'drift 2', result: second?.status === 'reported' ? `confirmed: ${second.confirmed}; ${second.trigger ? `retraining run ${second.trigger.id}` : 'no trigger'} (report ${second.htmlKey})` : 'waiting' });

    const serving = await platform.engine.repository.servingVersion(DEMO_MODEL.name);
    const newest = (await platform.engine.repository.listVersions(DEMO_MODEL.name)).at(-1)!;
    const pkg = await platform.engine.repository.load(DEMO_MODEL.name, newest);
    const q = pkg.manifest.quantization;
    const run = second?.status === 'reported' && second.trigger ? await loadRun({ data: new S3BlobStore(platform.s3.client, LOCAL_BUCKETS.data) }, DEMO_MODEL.name, second.trigger.id) : null;
    const evaluation = run?.evaluation ? `; holdout ${run.evaluation.metric} ${run.evaluation.candidate.toFixed(3)} vs ${run.evaluation.serving.toFixed(3)} for the old model` : '';
    const canary = run?.steps.canaryCheck?.summary ?? 'no canary';
    summary.push({ stage: 'canary', result: `${[...answeredBy].map(([v, n]) => `${n} by ${v}`).join(', ')} during the run; ${canary}` });
    summary.push({ stage: 'retrain', result: `${newest} trained (parent ${pkg.manifest.parentVersion})${evaluation}; int8 ${q ? (q.servable ? 'passed its gate' : `kept float: ${q.failures.join('; ')}`) : 'not made'}; gate ${run?.gate?.passed ? 'passed' : 'not passed'}; serving now ${serving}` });

    await new Promise((r) => setTimeout(r, 2500));
    const v2 = await send(instances(200, 606, drift));
    summary.push({ stage: 'traffic', result: `new requests answered by ${v2}` });
  } finally {
    console.log('\nsummary');
    for (const { stage, result } of summary) console.log(`  ${stage.padEnd(9)} ${result}`);
    await platform.stop();
    if (!process.env.MLOPS_HOME) await rm(home, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});

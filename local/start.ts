import { DEMO_MODEL } from './bootstrap';
import { localConfig } from './config';
import { LOCAL_BUCKETS, startPlatform } from './platform';

// The SDK's notice that its 2027 releases will need Node 22 is not actionable while serving locally.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** `npm start`: the platform on this machine, until Ctrl-C. */
async function main(): Promise<void> {
  const config = localConfig();
  const log = (line: string) => console.log(`[mlops] ${line}`);
  log(`home: ${config.home}`);
  const platform = await startPlatform(config, log);

  // One prediction through the real HTTP API proves the whole path works before we say "ready".
  const example = { instances: [{ age: 41, income: 52000, tenure_months: 6, sessions_per_week: 2.5, support_tickets: 4, monthly_spend: 80.5, plan: 'basic', region: 'eu', channel: 'web' }] };
  const response = await fetch(`${platform.apiUrl}/models/${DEMO_MODEL.name}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(example),
  });
  log(`self-test prediction (${response.status}): ${await response.text()}`);

  console.log(`
  dashboard   ${platform.apiUrl}/
  API         ${platform.apiUrl}
  health      curl -s ${platform.apiUrl}/v2/health/ready
  metadata    curl -s ${platform.apiUrl}/v2/models/${DEMO_MODEL.name}
  predict     curl -s -H 'content-type: application/json' -d '${JSON.stringify(example)}' ${platform.apiUrl}/models/${DEMO_MODEL.name}/predict
  OIP v2      curl -s -H 'content-type: application/json' -d '{"inputs":[{"name":"age","shape":[1],"datatype":"FP32","data":[41]},{"name":"income","shape":[1],"datatype":"FP32","data":[52000]},{"name":"tenure_months","shape":[1],"datatype":"FP32","data":[6]},{"name":"sessions_per_week","shape":[1],"datatype":"FP32","data":[2.5]},{"name":"support_tickets","shape":[1],"datatype":"FP32","data":[4]},{"name":"monthly_spend","shape":[1],"datatype":"FP32","data":[80.5]},{"name":"plan","shape":[1],"datatype":"BYTES","data":["basic"]},{"name":"region","shape":[1],"datatype":"BYTES","data":["eu"]},{"name":"channel","shape":[1],"datatype":"BYTES","data":["web"]}]}' ${platform.apiUrl}/v2/models/${DEMO_MODEL.name}/infer

  LLM         curl -N -H 'content-type: application/json' -d '{"prompt":"Tell me about GPUs","max_new_tokens":32}' ${platform.apiUrl}/llm/stand-in/generate
              (Server-Sent Events from a stand-in token generator behind the SageMaker streaming protocol, not a language model)

  S3          ${platform.s3.endpoint}  (buckets ${LOCAL_BUCKETS.models}, ${LOCAL_BUCKETS.data}; credentials AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER)
  batch       aws s3 cp customers.csv s3://${LOCAL_BUCKETS.data}/batch/input/${DEMO_MODEL.name}/customers.csv --endpoint-url ${platform.s3.endpoint}
              → s3://${LOCAL_BUCKETS.data}/batch/output/${DEMO_MODEL.name}/customers.csv.predictions.csv, batch/errors/…, batch/manifests/…

  Ctrl-C stops the platform; data stays in ${config.home}.
`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping (finishing batch jobs, flushing capture)…`);
    await platform.stop();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: Error) => {
  console.error(`[mlops] cannot start: ${error.message}`);
  process.exit(1);
});

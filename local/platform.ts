import { join } from 'node:path';
import { CaptureBuffer } from '../core/capture/capture';
import { DirectoryStore } from '../core/model/blob-store';
import { InferenceEngine } from '../core/model/engine';
import { ModelRepository } from '../core/model/registry';
import { startApiServer } from './api-server';
import { DEMO_MODEL, ensureDemoModel } from './bootstrap';
import type { LocalConfig } from './config';

export interface RunningPlatform {
  readonly apiUrl: string;
  readonly engine: InferenceEngine;
  readonly capture: CaptureBuffer;
  stop(): Promise<void>;
}

/** Starts the one-machine platform: bootstraps the demo model, serves the API, captures traffic. */
export async function startPlatform(config: LocalConfig, log: (line: string) => void): Promise<RunningPlatform> {
  await ensureDemoModel(config.home, log);
  const models = new ModelRepository(new DirectoryStore(config.home));
  const dataBucket = new DirectoryStore(join(config.home, 'data-bucket'));
  const engine = new InferenceEngine(models);
  const capture = new CaptureBuffer((key, body) => dataBucket.write(key, body), {
    maxAgeMs: 5_000,
    onError: (error) => log(`capture write failed: ${(error as Error).message}`),
  });
  const api = await startApiServer(
    { engine, capture, requiredModels: [DEMO_MODEL.name], onError: (error) => log(`error: ${(error as Error).stack ?? String(error)}`) },
    { port: config.port },
  );
  return {
    apiUrl: api.url,
    engine,
    capture,
    stop: async () => {
      await api.close();
      await capture.flush();
      await engine.release();
    },
  };
}

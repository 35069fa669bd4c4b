import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Baseline } from '../core/drift/baseline';
import { DRIFT_DEFAULTS } from '../core/drift/detect';
import { addTallies, FEATURE_NAMES, runScenario, SCENARIOS, type Scenario, simulatedBaseline, type Tally } from './drift-scenarios';

/**
 * Calibration of the drift rules (DESIGN.md, "Quality bars: Drift") on seeded synthetic data: 21
 * features (13 numeric of assorted shapes including a 0/1 flag, 8 categorical including a two-level
 * one, some missing values) and a binary classifier's scores, baseline profile of 5,000 rows built
 * with BaselineBuilder. Checks, each over independent seeded windows:
 *   1. false alarms: 1,000 no-drift windows of 1,000 rows → dataset alert rate ≤ 5%;
 *   2. power at 1,000 rows, 1,000 windows each → alert rate ≥ 95% for a 0.2σ mean shift of one normal
 *      feature (rotating over five), a 10-point change of one category's share (rotating over five,
 *      one binary), and a 0.20 → 0.35 positive-prediction rate;
 *   3. large windows: 100 windows of 100,000 rows with an immaterial shift of everything at once
 *      (0.02σ on every numeric feature, +1 point on one level of every categorical, +1 point of
 *      positive rate) → alert rate ≤ 5%;
 *   4. naming: in ≥ 95% of the power windows the report names the drifted feature and no other
 *      (for the positive-rate change: the predictions and no feature).
 * Beside the full rule it prints two ablations computed from the same p-values: the tests alone with
 * the correction (no effect gate) and the tests alone uncorrected. An extra, informational run repeats
 * the immaterial shift with a 100,000-row baseline and whole-window samples (KS on every row), where
 * the tests have the power to see 0.02σ and only the effect gate keeps the alarm quiet.
 * Repetitions are split over worker threads (DRIFT_BENCH_WORKERS, default 2).
 * Run: npm run bench:drift
 */

interface Check {
  readonly key: keyof typeof SCENARIOS;
  readonly label: string;
  readonly repetitions: number;
  /** 'standard': the 5,000-row baseline; 'large': a 100,000-row baseline with whole-window samples. */
  readonly baseline: 'standard' | 'large';
  readonly bound: { readonly metric: 'alert' | 'named'; readonly max?: number; readonly min?: number }[];
  readonly informational?: boolean;
}

const CHECKS: readonly Check[] = [
  { key: 'noDrift', label: '1. false alarms, no drift', repetitions: 1000, baseline: 'standard', bound: [{ metric: 'alert', max: 0.05 }] },
  {
    key: 'numericShift',
    label: '2a. power, 0.2σ shift of one numeric',
    repetitions: 1000,
    baseline: 'standard',
    bound: [
      { metric: 'alert', min: 0.95 },
      { metric: 'named', min: 0.95 },
    ],
  },
  {
    key: 'categoryShift',
    label: '2b. power, 10-point category share',
    repetitions: 1000,
    baseline: 'standard',
    bound: [
      { metric: 'alert', min: 0.95 },
      { metric: 'named', min: 0.95 },
    ],
  },
  {
    key: 'positiveRate',
    label: '2c. power, positive rate 0.20→0.35',
    repetitions: 1000,
    baseline: 'standard',
    bound: [
      { metric: 'alert', min: 0.95 },
      { metric: 'named', min: 0.95 },
    ],
  },
  { key: 'immaterialLarge', label: '3. immaterial shift, 100,000 rows', repetitions: 100, baseline: 'standard', bound: [{ metric: 'alert', max: 0.05 }] },
  {
    key: 'immaterialLarge',
    label: '(info) same, 100k-row baseline, KS on all rows',
    repetitions: 20,
    baseline: 'large',
    bound: [{ metric: 'alert', max: 0.05 }],
    informational: true,
  },
];

const SEED = 20260107;
const LARGE_ROWS = 100_000;

interface Task {
  readonly check: number;
  readonly from: number;
  readonly count: number;
}

function baselineFor(kind: Check['baseline'], cache: Map<string, Baseline>): Baseline {
  let baseline = cache.get(kind);
  if (!baseline) {
    baseline = kind === 'standard' ? simulatedBaseline() : simulatedBaseline(LARGE_ROWS, 20260101, LARGE_ROWS);
    cache.set(kind, baseline);
  }
  return baseline;
}

function runTasks(tasks: readonly Task[]): { check: number; tally: Tally }[] {
  const cache = new Map<string, Baseline>();
  return tasks.map((task) => {
    const check = CHECKS[task.check]!;
    const scenario: Scenario = SCENARIOS[check.key];
    const tally = runScenario(baselineFor(check.baseline, cache), scenario, task.count, SEED + task.check, {
      from: task.from,
      sampleSize: check.baseline === 'large' ? LARGE_ROWS : undefined,
    });
    return { check: task.check, tally };
  });
}

function startWorker(tasks: Task[]): Promise<{ check: number; tally: Tally }[]> {
  // The worker evaluates this file again through tsx's loader (registered explicitly: eval workers do not inherit it).
  const code = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: tasks });
    worker.once('message', (results) => {
      resolve(results);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

async function main(): Promise<void> {
  const workers = Math.max(1, Number(process.env.DRIFT_BENCH_WORKERS ?? Math.min(2, availableParallelism())));
  const started = performance.now();
  const perWorker: Task[][] = Array.from({ length: workers }, () => []);
  CHECKS.forEach((check, c) => {
    const size = Math.ceil(check.repetitions / workers);
    for (let w = 0; w < workers; w++) {
      const from = w * size;
      const count = Math.min(size, check.repetitions - from);
      if (count > 0) perWorker[w]!.push({ check: c, from, count });
    }
  });
  console.log(`drift calibration: ${FEATURE_NAMES.length} features, 5,000-row baseline, ${workers} worker(s)`);
  console.log(`defaults: ${JSON.stringify(DRIFT_DEFAULTS)}\n`);
  const results = (await Promise.all(perWorker.map((tasks) => startWorker(tasks)))).flat();
  const tallies = CHECKS.map((_, c) =>
    results
      .filter((r) => r.check === c)
      .map((r) => r.tally)
      .reduce(addTallies),
  );

  const rows: Record<string, string>[] = [];
  let failures = 0;
  CHECKS.forEach((check, c) => {
    const tally = tallies[c]!;
    const n = tally.repetitions;
    for (const bound of check.bound) {
      const value = (bound.metric === 'alert' ? tally.alerts : tally.named) / n;
      const pass = (bound.max === undefined || value <= bound.max) && (bound.min === undefined || value >= bound.min);
      if (!pass && !check.informational) failures++;
      rows.push({
        check: check.label,
        rows: SCENARIOS[check.key].rows.toLocaleString('en-US'),
        windows: String(n),
        measure: bound.metric === 'alert' ? 'alert rate' : 'named exactly',
        value: percent(value),
        bound: bound.max !== undefined ? `≤ ${percent(bound.max)}` : `≥ ${percent(bound.min!)}`,
        'tests only (corrected)': bound.metric === 'alert' ? percent(tally.testsOnlyCorrected / n) : '',
        'tests only (uncorrected)': bound.metric === 'alert' ? percent(tally.testsOnlyUncorrected / n) : '',
        result: check.informational ? (pass ? 'pass (info)' : 'FAIL (info)') : pass ? 'pass' : 'FAIL',
      });
    }
  });
  console.table(rows);
  console.log('\nfeatures named (windows naming each; "prediction" = prediction drift):');
  CHECKS.forEach((check, c) => {
    const counts = Object.entries(tallies[c]!.namedCounts).sort((a, b) => b[1] - a[1]);
    console.log(`  ${check.label}: ${counts.length ? counts.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  });
  console.log(`\n${failures ? `${failures} check(s) FAILED` : 'all checks pass'} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = failures ? 1 : 0;
}

if (isMainThread) {
  await main();
} else {
  parentPort!.postMessage(runTasks(workerData as Task[]));
}

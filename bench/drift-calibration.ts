import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Baseline } from '../core/drift/baseline';
import { DRIFT_DEFAULTS, detectDrift } from '../core/drift/detect';
import { DriftWindow } from '../core/drift/window';
import { Random } from '../core/random';
import { FEATURE_NAMES, NUMERIC_TARGETS, type Shift, simulate, simulatedBaseline } from './drift-scenarios';

/**
 * Calibration of the drift rules on the seeded synthetic data of bench/drift-scenarios.ts (21 features:
 * 13 numeric of assorted shapes including integer, zero-inflated and 0/1 columns, 8 categorical, some
 * missing values, a binary classifier's scores), over a grid:
 *   baselines of 1,000 and 5,000 rows (BaselineBuilder) × windows of 50, 100 and 1,000 rows;
 *   per cell: false alarms (dataset alert on no-drift windows), power on a 0.2σ mean shift of one normal
 *   feature (rotating over five), and at 50 rows power on a 1σ shift;
 *   each window judged twice in the same run, by the default rules (Anderson–Darling for numeric
 *   features) and by the KS rules (numericTest: 'ks', Bonferroni and gates unchanged), and the
 *   multivariate PCA-reconstruction test's rejection rate (its own α = 0.05, outside dataset.alert).
 * Bounds checked: false alarms ≤ 5% in every cell (both rules, and the multivariate test); power ≥ 90% on
 * the 0.2σ shift at 1,000 vs 1,000 rows (default rules). Repetitions per scenario and cell:
 * DRIFT_BENCH_REPS (default 1,000), split over DRIFT_BENCH_WORKERS threads (default 2).
 * Run: npm run bench:drift
 */

const BASELINES = [1000, 5000] as const;
const WINDOWS = [50, 100, 1000] as const;
const SEED = 20260107;

interface Scenario {
  readonly name: string;
  readonly window: number;
  readonly shift: (i: number) => Shift;
}

function scenariosFor(window: number): Scenario[] {
  const list: Scenario[] = [
    { name: 'no drift', window, shift: () => ({}) },
    { name: '0.2σ shift', window, shift: (i) => ({ numeric: { [NUMERIC_TARGETS[i % NUMERIC_TARGETS.length]!]: 0.2 } }) },
  ];
  if (window <= 50) list.push({ name: '1σ shift', window, shift: (i) => ({ numeric: { [NUMERIC_TARGETS[i % NUMERIC_TARGETS.length]!]: 1 } }) });
  return list;
}

interface Cell {
  readonly baseline: number;
  readonly scenario: Scenario;
}

const CELLS: Cell[] = BASELINES.flatMap((baseline) => WINDOWS.flatMap((w) => scenariosFor(w).map((scenario) => ({ baseline, scenario }))));

interface Tally {
  cell: number;
  repetitions: number;
  alerts: number;
  ksAlerts: number;
  multivariate: number;
  multivariateTested: number;
}

interface Task {
  readonly cell: number;
  readonly from: number;
  readonly count: number;
}

function runTasks(tasks: readonly Task[]): Tally[] {
  const baselines = new Map<number, Baseline>();
  return tasks.map((task) => {
    const cell = CELLS[task.cell]!;
    let baseline = baselines.get(cell.baseline);
    if (!baseline) baselines.set(cell.baseline, (baseline = simulatedBaseline(cell.baseline, 20260101 + cell.baseline)));
    const tally: Tally = { cell: task.cell, repetitions: task.count, alerts: 0, ksAlerts: 0, multivariate: 0, multivariateTested: 0 };
    for (let i = task.from; i < task.from + task.count; i++) {
      const random = new Random(Math.imul(SEED + task.cell, 1_000_003) + i);
      const data = simulate(cell.scenario.window, random, cell.scenario.shift(i));
      const window = new DriftWindow(baseline, { seed: SEED + i });
      window.addRows(data.x, data.rows, { values: data.scores, width: 2 }, data.labels);
      const report = detectDrift(baseline, window);
      const ks = detectDrift(baseline, window, { numericTest: 'ks' });
      if (report.dataset.alert) tally.alerts++;
      if (ks.dataset.alert) tally.ksAlerts++;
      if (report.multivariate && report.multivariate.verdict !== 'insufficient_data') {
        tally.multivariateTested++;
        if (report.multivariate.verdict === 'drift') tally.multivariate++;
      }
    }
    return tally;
  });
}

function startWorker(tasks: Task[]): Promise<Tally[]> {
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
  const repetitions = Math.max(1, Number(process.env.DRIFT_BENCH_REPS ?? 1000));
  const started = performance.now();
  const perWorker: Task[][] = Array.from({ length: workers }, () => []);
  const size = Math.ceil(repetitions / workers);
  CELLS.forEach((_, c) => {
    for (let w = 0; w < workers; w++) {
      const from = w * size;
      const count = Math.min(size, repetitions - from);
      if (count > 0) perWorker[w]!.push({ cell: c, from, count });
    }
  });
  console.log(`drift calibration: ${FEATURE_NAMES.length} features, ${repetitions} windows per cell, ${workers} worker(s)`);
  console.log(`defaults: ${JSON.stringify(DRIFT_DEFAULTS)}\n`);
  const results = (await Promise.all(perWorker.map((tasks) => startWorker(tasks)))).flat();
  let failures = 0;
  const rows = CELLS.map((cell, c) => {
    const parts = results.filter((r) => r.cell === c);
    const sum = (k: keyof Tally): number => parts.reduce((s, r) => s + (r[k] as number), 0);
    const n = sum('repetitions');
    const alert = sum('alerts') / n;
    const ks = sum('ksAlerts') / n;
    const tested = sum('multivariateTested');
    const mv = tested ? sum('multivariate') / tested : Number.NaN;
    const noDrift = cell.scenario.name === 'no drift';
    let bound = '';
    let pass = true;
    if (noDrift) {
      bound = '≤ 5.0% (all three)';
      pass = alert <= 0.05 && ks <= 0.05 && !(mv > 0.05);
    } else if (cell.baseline === 1000 && cell.scenario.window === 1000 && cell.scenario.name === '0.2σ shift') {
      bound = '≥ 90.0% (AD rules)';
      pass = alert >= 0.9;
    }
    if (!pass) failures++;
    return {
      baseline: cell.baseline.toLocaleString('en-US'),
      window: cell.scenario.window.toLocaleString('en-US'),
      scenario: cell.scenario.name,
      windows: n,
      'alert, AD rules': percent(alert),
      'alert, KS + Bonferroni': percent(ks),
      'multivariate rejects': Number.isNaN(mv) ? 'n/a' : percent(mv),
      bound,
      result: bound ? (pass ? 'pass' : 'FAIL') : '',
    };
  });
  console.table(rows);
  console.log(`\n${failures ? `${failures} check(s) FAILED` : 'all checks pass'} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = failures ? 1 : 0;
}

if (isMainThread) {
  await main();
} else {
  parentPort!.postMessage(runTasks(workerData as Task[]));
}

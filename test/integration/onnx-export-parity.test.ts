import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxSession } from '../../core/model/onnx-session';
import { parseDriftSpec, writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { columnIndex, readCsvTable, type Table } from '../../model-pipeline/data/table';
import { ExportedNames, exportTrainedModel } from '../../model-pipeline/onnx/export-trained';
import { inferSchema } from '../../model-pipeline/train/infer-schema';
import { inferTask, predictTrained, type TrainedModel, type TrainOptions, trainModel } from '../../model-pipeline/train/trainer';
import { useTempDir } from '../helpers/tmp';

/** Trains in-process, exports to ONNX, and runs both the TypeScript forward pass and ONNX Runtime on the validation rows. */
async function trainExportAndRun(table: Table, options: TrainOptions & { ignore?: string[] }) {
  const schema = inferSchema(table, { label: options.label, ignore: options.ignore });
  const model = trainModel(table, schema.features, { epochs: 15, ...options });
  const session = await OnnxSession.create(exportTrainedModel(model, 'parity'));
  try {
    const { x, rows } = model.validation;
    const output = model.task === 'regression' ? ExportedNames.prediction : ExportedNames.probabilities;
    const outputs = await session.run(ExportedNames.input, { data: x, rows, cols: model.features.length }, [output]);
    return { model, typescript: predictTrained(model, x, rows), onnx: Array.from(outputs[output]!.data as ArrayLike<number>) };
  } finally {
    await session.release();
  }
}

function maxAbsoluteDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function maxRelativeDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < actual.length; i++) max = Math.max(max, Math.abs(actual[i]! - expected[i]!) / Math.max(Math.abs(expected[i]!), 1));
  return max;
}

function expectDistinctOutputs(values: ArrayLike<number>): void {
  // A degenerate model (constant output) would agree trivially.
  expect(new Set(Array.from(values, (v) => v.toFixed(4))).size).toBeGreaterThan(10);
}

describe('ONNX export of a trained model', () => {
  const tmp = useTempDir('mlops-parity-');
  let binary: Table;
  let multiclass: Table;

  beforeAll(async () => {
    // Missing values in numeric and categorical features exercise the graph's imputation paths.
    const drift = parseDriftSpec(['missing:age=0.1', 'missing:monthly_spend=0.05', 'missing:plan=0.1']);
    await writeGeneratedCsv(tmp.file('binary.csv'), { rows: 3000, seed: 7, drift });
    await writeGeneratedCsv(tmp.file('multiclass.csv'), { rows: 3000, seed: 8, task: 'multiclass', drift });
    [binary, multiclass] = await Promise.all([readCsvTable(tmp.file('binary.csv')), readCsvTable(tmp.file('multiclass.csv'))]);
  });

  it('gives the probabilities of the TypeScript forward pass to 1e-5 for logistic regression', async () => {
    // Act
    const { model, typescript, onnx } = await trainExportAndRun(binary, { label: 'churned', model: 'logreg' });

    // Assess
    expect(model.validation.rows).toBeGreaterThan(500);
    expect(onnx).toHaveLength(model.validation.rows * 2);
    expectDistinctOutputs(onnx);
    expect(maxAbsoluteDifference(onnx, typescript)).toBeLessThan(1e-5);
  });

  it('gives the probabilities of the TypeScript forward pass to 1e-5 for an MLP', async () => {
    // Act
    const { model, typescript, onnx } = await trainExportAndRun(multiclass, { label: 'segment', model: 'mlp', hidden: [16, 8] });

    // Assess
    expect(onnx).toHaveLength(model.validation.rows * 3);
    expectDistinctOutputs(onnx);
    expect(maxAbsoluteDifference(onnx, typescript)).toBeLessThan(1e-5);
  });

  it('takes a numeric label with many values (income) for a regression target', () => {
    // Act
    const { task, classes } = inferTask(binary.rows.map((row) => row[columnIndex(binary, 'income')]!));

    // Assess
    expect(task).toBe('regression');
    expect(classes).toEqual([]);
  });

  it('gives the predictions of the TypeScript forward pass to a relative 1e-5 for a regression MLP', async () => {
    // Act
    const { model, typescript, onnx } = await trainExportAndRun(binary, { label: 'income', ignore: ['churned'], model: 'mlp' });

    // Assess
    expect(model.task).toBe('regression');
    expect(model.features.map((f) => f.name)).not.toContain('churned');
    expect(onnx).toHaveLength(model.validation.rows);
    expectDistinctOutputs(onnx);
    expect(maxRelativeDifference(onnx, typescript)).toBeLessThan(1e-5);
  });
});

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

interface RejectedRow {
  line: number;
  reason: string;
  field?: string;
  raw: string;
}

interface JobManifest {
  status: string;
  rowsIn: number;
  scored: number;
  rejected: number;
  error?: string;
}

/** The input's columns: the generator's, shuffled, plus a free-text pass-through column. */
const shuffledHeader = ['churned', 'plan', 'customer_id', 'income', 'age', 'note', 'region', 'tenure_months', 'monthly_spend', 'channel', 'sessions_per_week', 'support_tickets'];

/** What one line of the mixed input file should become. */
type Expectation =
  | { kind: 'scored'; id: string; note: string }
  | { kind: 'rejected'; field?: string; reason: RegExp }
  | { kind: 'blank' };

/**
 * Builds a CSV file (CRLF line endings) of good rows taken from the generator and malformed
 * rows of every kind, and records what each physical line should become.
 */
function mixedInput() {
  const header = generatedHeader();
  const source = generateRows({ rows: 200, seed: 42 });
  const lines: string[] = [shuffledHeader.join(',')];
  const expectations = new Map<number, Expectation>();
  const cleanLines: string[] = [header.join(',')];
  let n = 0;
  const next = () => {
    const cells = source.next().value!.cells;
    const values = Object.fromEntries(header.map((name, i) => [name, cells[i]!]));
    return { values, cells };
  };
  const toLine = (values: Record<string, string>, note: string) => shuffledHeader.map((c) => (c === 'note' ? note : values[c]!)).join(',');
  const add = (text: string, expectation: Expectation) => {
    lines.push(text);
    expectations.set(lines.length, expectation);
  };
  const good = (note = 'ok', quotedNote?: string) => {
    const { values, cells } = next();
    const id = `good-${++n}`;
    values.customer_id = id;
    cleanLines.push([id, ...cells.slice(1)].join(','));
    add(toLine(values, quotedNote ?? note), { kind: 'scored', id, note });
  };
  const bad = (change: Record<string, string>, expectation: Omit<Extract<Expectation, { kind: 'rejected' }>, 'kind'>, note = 'bad') => {
    const { values } = next();
    add(toLine({ ...values, customer_id: `bad-${lines.length + 1}`, ...change }, note), { kind: 'rejected', ...expectation });
  };

  good();
  good('hello, "world"', '"hello, ""world"""');
  bad({ age: 'abc' }, { field: 'age', reason: /must be a number/ });
  bad({ plan: 'platinum' }, { field: 'plan', reason: /unknown level "platinum"/ });
  bad({ income: '' }, { field: 'income', reason: /required but missing/ });
  add(`${toLine(next().values, 'extra')},surplus`, { kind: 'rejected', reason: /13 fields; the header has 12/ });
  add('', { kind: 'blank' });
  good();
  bad({}, { reason: /unclosed quote/ }, '"never closed');
  for (let i = 0; i < 10; i++) good();
  // A well-quoted field soon after the unclosed one must not be swallowed by it.
  good('after, "the" unclosed one', '"after, ""the"" unclosed one"');
  for (let i = 0; i < 120; i++) good();
  add(toLine(next().values, 'short').split(',').slice(0, -1).join(','), { kind: 'rejected', reason: /11 fields; the header has 12/ });
  good();
  add('', { kind: 'blank' });
  good();
  return { text: `${lines.join('\r\n')}\r\n`, clean: `${cleanLines.join('\n')}\n`, expectations };
}

async function readOutputs(out: string) {
  const predictions = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];
  const errors = (await readFile(`${out}.errors.jsonl`, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RejectedRow);
  const manifest = JSON.parse(await readFile(`${out}.manifest.json`, 'utf8')) as JobManifest;
  return { predictions, errors, manifest };
}

describe('mlops score', () => {
  const tmp = useTempDir('mlops-score-');
  let pkg: string;

  beforeAll(async () => {
    pkg = tmp.file('churn');
    await mlopsOk(['generate', '--out', tmp.file('train.csv'), '--rows', '2000', '--seed', '3']);
    await mlopsOk(['train', '--data', tmp.file('train.csv'), '--label', 'churned', '--out', pkg, '--model', 'logreg']);
  });

  describe('of a file mixing good and malformed rows (shuffled header, CRLF, blank lines, quoting)', () => {
    const input = mixedInput();
    const scoredLines = [...input.expectations].filter(([, e]) => e.kind === 'scored').map(([line]) => line);
    const rejectedLines = [...input.expectations].filter(([, e]) => e.kind === 'rejected').map(([line]) => line);
    let outputs: Awaited<ReturnType<typeof readOutputs>>;
    let clean: Awaited<ReturnType<typeof readOutputs>>;
    let gzipped: Awaited<ReturnType<typeof readOutputs>>;

    beforeAll(async () => {
      await writeFile(tmp.file('mixed.csv'), input.text);
      await writeFile(tmp.file('clean.csv'), input.clean);
      await writeFile(tmp.file('mixed.csv.gz'), gzipSync(input.text));
      await Promise.all([
        mlopsOk(['score', pkg, tmp.file('mixed.csv'), '--out', tmp.file('mixed-out.csv'), '--chunk', '8']),
        mlopsOk(['score', pkg, tmp.file('clean.csv'), '--out', tmp.file('clean-out.csv')]),
        mlopsOk(['score', pkg, tmp.file('mixed.csv.gz'), '--out', tmp.file('gzip-out.csv'), '--chunk', '8']),
      ]);
      [outputs, clean, gzipped] = await Promise.all([
        readOutputs(tmp.file('mixed-out.csv')),
        readOutputs(tmp.file('clean-out.csv')),
        readOutputs(tmp.file('gzip-out.csv')),
      ]);
    });

    it('writes a prediction for every good row, by its line number, and for no other line', () => {
      expect(outputs.predictions.map((p) => Number(p.line))).toEqual(scoredLines);
      for (const prediction of outputs.predictions) {
        const expected = input.expectations.get(Number(prediction.line));
        expect(expected).toMatchObject({ kind: 'scored', id: prediction.customer_id });
      }
    });

    it('scores the rows after an unclosed quote, including a correctly quoted one', () => {
      const unclosed = rejectedLines.find((line) => (input.expectations.get(line) as { reason: RegExp }).reason.source.includes('unclosed'))!;
      const after = scoredLines.filter((line) => line > unclosed);
      expect(after.length).toBeGreaterThan(100);
      expect(outputs.predictions.filter((p) => Number(p.line) > unclosed)).toHaveLength(after.length);
    });

    it('passes a quoted field with an embedded comma and escaped quotes through unchanged', () => {
      const notes = outputs.predictions.filter((p) => p.note !== 'ok').map((p) => p.note);
      expect(notes).toEqual(['hello, "world"', 'after, "the" unclosed one']);
    });

    it('scores each good row as the same row in a clean file with the generator\'s column order', () => {
      const byId = new Map(clean.predictions.map((p) => [p.customer_id, p]));
      expect(clean.predictions).toHaveLength(scoredLines.length);
      for (const p of outputs.predictions) {
        const twin = byId.get(p.customer_id)!;
        expect([p.prediction, p.prob_no, p.prob_yes]).toEqual([twin.prediction, twin.prob_no, twin.prob_yes]);
      }
      // Not a constant model: the rows get different scores.
      expect(new Set(outputs.predictions.map((p) => p.prob_yes)).size).toBeGreaterThan(50);
    });

    it('lists every malformed row in the errors file with its line number, the field when there is one, and a reason', () => {
      expect(outputs.errors.map((e) => e.line)).toEqual(rejectedLines);
      for (const error of outputs.errors) {
        const expected = input.expectations.get(error.line) as Extract<Expectation, { kind: 'rejected' }>;
        expect(error.reason).toMatch(expected.reason);
        expect(error.field).toBe(expected.field);
        expect(error.raw.length).toBeGreaterThan(0);
      }
    });

    it('writes a manifest whose counts reconcile with the data rows of the file', () => {
      const dataRows = scoredLines.length + rejectedLines.length;
      expect(outputs.manifest).toMatchObject({ status: 'succeeded', rowsIn: dataRows, scored: scoredLines.length, rejected: rejectedLines.length });
      expect(outputs.manifest.rowsIn).toBe(outputs.manifest.scored + outputs.manifest.rejected);
      expect(outputs.manifest.rowsIn).toBe(input.text.split('\r\n').slice(1).filter((line) => line !== '').length);
    });

    it('scores a .csv.gz copy of the file exactly as the plain file', () => {
      expect(gzipped.predictions).toEqual(outputs.predictions);
      expect(gzipped.errors).toEqual(outputs.errors);
      expect(gzipped.manifest).toMatchObject({ status: 'succeeded', rowsIn: outputs.manifest.rowsIn, scored: outputs.manifest.scored, rejected: outputs.manifest.rejected });
    });
  });

  it('fails with one line naming a missing feature column and leaves no predictions file', async () => {
    // Prepare: the same rows without the income column.
    const rows = mixedInput().text.split('\r\n');
    const drop = shuffledHeader.indexOf('income');
    const withoutIncome = rows.map((line) => line.split(',').filter((_, i) => i !== drop).join(',')).join('\n');
    await writeFile(tmp.file('no-income.csv'), withoutIncome);
    const out = tmp.file('no-income-out.csv');

    // Act
    const result = await mlops(['score', pkg, tmp.file('no-income.csv'), '--out', out]);

    // Assess
    const error = expectOneLineError(result);
    expect(error).toMatch(/lacks feature column\(s\) income\b/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(existsSync(`${out}.errors.jsonl`)).toBe(false);
    if (existsSync(`${out}.manifest.json`)) {
      const manifest = JSON.parse(await readFile(`${out}.manifest.json`, 'utf8')) as JobManifest;
      expect(manifest).toMatchObject({ status: 'failed', scored: 0, error: expect.stringContaining('income') });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { fanOutDecision, splittable } from '../../core/batch/fan-out-decision';
import { formatOf, formats, InvalidBatchKeyError } from '../../core/batch/formats';

describe('formatOf', () => {
  it.each([
    ['batch/input/demo/customers.csv', 'csv', false],
    ['batch/input/demo/events.jsonl', 'jsonl', false],
    ['batch/input/demo/events.ndjson', 'jsonl', false],
    ['batch/input/demo/table.parquet', 'parquet', false],
    ['batch/input/demo/customers.csv.gz', 'csv', true],
    ['batch/input/demo/events.jsonl.gz', 'jsonl', true],
  ] as const)('reads %s as %s (gzip: %s)', (key, name, gzip) => {
    expect(formatOf(key)).toEqual({ format: formats[name], gzip });
  });

  it('reads an extension in capitals as the same format', () => {
    expect(formatOf('batch/input/demo/CUSTOMERS.CSV').format).toBe(formats.csv);
  });

  it('refuses an extension no format reads, naming the key and the extensions that are read', () => {
    const key = 'batch/input/demo/notes.txt';

    expect(() => formatOf(key)).toThrow(InvalidBatchKeyError);
    expect(() => formatOf(key)).toThrow(`${key}: unsupported file type; use .csv, .jsonl or .parquet (optionally .gz, not for parquet)`);
  });

  it('refuses a key without an extension', () => {
    expect(() => formatOf('batch/input/demo/csv')).toThrow('batch/input/demo/csv: unsupported file type');
  });

  it('refuses gzip-compressed Parquet, naming the key and why', () => {
    expect(() => formatOf('batch/input/demo/table.parquet.gz')).toThrow('batch/input/demo/table.parquet.gz: Parquet compresses its own pages; drop the .gz');
  });
});

describe('the predictions file of each format', () => {
  it('is CSV for CSV input', () => {
    expect(formats.csv.outputExtension).toBe('csv');
  });

  it('is JSONL for JSONL and Parquet input', () => {
    expect([formats.jsonl.outputExtension, formats.parquet.outputExtension]).toEqual(['jsonl', 'jsonl']);
  });
});

describe('fanOutDecision', () => {
  const threshold = { aboveBytes: 1000 };

  it('keeps a file below the threshold in one run', () => {
    expect(fanOutDecision({ gzip: false }, 999, threshold)).toEqual({ fanOut: false, reason: '999 bytes, at most the fan-out threshold of 1000' });
  });

  it('keeps a file at the threshold in one run', () => {
    expect(fanOutDecision({ gzip: false }, 1000, threshold).fanOut).toBe(false);
  });

  it('splits a plain file above the threshold', () => {
    expect(fanOutDecision({ gzip: false }, 1001, threshold)).toEqual({ fanOut: true, reason: '1001 bytes, above the fan-out threshold of 1000' });
  });

  it('keeps a gzip file above the threshold in one run and says why', () => {
    expect(fanOutDecision({ gzip: true }, 2000, threshold)).toEqual({ fanOut: false, reason: '2000 bytes, above the fan-out threshold of 1000, but gzip cannot be split: scored in one run' });
  });

  it('splits every format when it is not gzip-compressed', () => {
    const keys = ['batch/input/demo/a.csv', 'batch/input/demo/a.jsonl', 'batch/input/demo/a.parquet'];

    expect(keys.map((key) => fanOutDecision(formatOf(key), 2000, threshold).fanOut)).toEqual([true, true, true]);
  });
});

describe('splittable', () => {
  it('cannot cut a gzip stream, which reads only from its start', () => {
    expect(splittable(formatOf('batch/input/demo/a.csv.gz'))).toBe(false);
  });

  it('can cut an uncompressed file', () => {
    expect(splittable(formatOf('batch/input/demo/a.csv'))).toBe(true);
  });
});

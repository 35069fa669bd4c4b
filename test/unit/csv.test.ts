import { describe, expect, it } from 'vitest';
import { csvLine, parseCsvRecord, readCsv, type CsvReaderOptions, type CsvRecord } from '../../core/data/csv';

async function readAll(text: string | string[], options: CsvReaderOptions = {}): Promise<CsvRecord[]> {
  const chunks = Array.isArray(text) ? text : [text];
  async function* source() {
    for (const chunk of chunks) yield new TextEncoder().encode(chunk);
  }
  const records: CsvRecord[] = [];
  for await (const batch of readCsv(source(), options)) records.push(...batch);
  return records;
}

describe('parseCsvRecord', () => {
  it('splits a plain row on commas', () => {
    expect(parseCsvRecord('a,b,,c')).toEqual({ fields: ['a', 'b', '', 'c'] });
  });

  it('unquotes quoted fields with embedded commas and doubled quotes', () => {
    expect(parseCsvRecord('1,"a, ""b""",2')).toEqual({ fields: ['1', 'a, "b"', '2'] });
  });

  it('keeps an empty last field after a trailing comma', () => {
    expect(parseCsvRecord('"x",')).toEqual({ fields: ['x', ''] });
  });

  it('reports a record whose quoted field is still open as open', () => {
    expect(parseCsvRecord('1,"abc')).toBe('open');
  });

  it('rejects text after a closing quote', () => {
    expect(parseCsvRecord('"a"b,1')).toEqual({ error: expect.stringContaining('after the closing quote') });
  });

  it('rejects a quote inside an unquoted field', () => {
    expect(parseCsvRecord('ab"c,1')).toEqual({ error: expect.stringContaining('quote inside unquoted field 1') });
  });
});

describe('readCsv', () => {
  it('numbers records by the physical line they start on, skipping blank lines', async () => {
    const records = await readAll('h1,h2\n1,2\n\n3,4\n');
    expect(records.map((r) => [r.line, r.fields])).toEqual([
      [1, ['h1', 'h2']],
      [2, ['1', '2']],
      [4, ['3', '4']],
    ]);
  });

  it('reads CRLF line endings and a missing final newline', async () => {
    const records = await readAll('a,b\r\n1,2\r\n3,4');
    expect(records.map((r) => r.fields)).toEqual([['a', 'b'], ['1', '2'], ['3', '4']]);
  });

  it('drops a UTF-8 byte-order mark', async () => {
    const records = await readAll('\uFEFFa,b\n1,2\n');
    expect(records[0]!.fields).toEqual(['a', 'b']);
  });

  it('joins a quoted field that spans lines into one record', async () => {
    const records = await readAll('a,b\n1,"x\ny"\n2,z\n');
    expect(records.map((r) => [r.line, r.fields])).toEqual([
      [1, ['a', 'b']],
      [2, ['1', 'x\ny']],
      [4, ['2', 'z']],
    ]);
  });

  it('rejects only the line of an unclosed quote and reads the rows after it', async () => {
    const records = await readAll('a,b\n1,"oops\n2,ok\n3,ok\n', { maxRecordLines: 2 });
    expect(records.map((r) => [r.line, r.fields, r.error !== undefined])).toEqual([
      [1, ['a', 'b'], false],
      [2, null, true],
      [3, ['2', 'ok'], false],
      [4, ['3', 'ok'], false],
    ]);
  });

  it('recovers from an unclosed quote that reaches the end of the file', async () => {
    const records = await readAll('a,b\n1,2\n3,"never closed\n4,5\n');
    expect(records.map((r) => [r.line, r.fields])).toEqual([
      [1, ['a', 'b']],
      [2, ['1', '2']],
      [3, null],
      [4, ['4', '5']],
    ]);
  });

  it('reassembles rows and multi-byte characters split across chunks', async () => {
    const records = await readAll(['a,b\n1,caf', 'é\n2,', '3\n']);
    expect(records.map((r) => r.fields)).toEqual([['a', 'b'], ['1', 'café'], ['2', '3']]);
  });

  it('rejects a line longer than maxLineBytes as one record, keeping only its start, and numbers the lines after it as before', async () => {
    const text = `a,b\n1,2\n${'x'.repeat(50)}\n3,4\n${'y'.repeat(30)}`;
    for (const chunks of [[text], text.match(/[^]{1,7}/g)!]) {
      const records = await readAll(chunks, { maxLineBytes: 20 });
      expect(records.map((r) => [r.line, r.fields, r.error])).toEqual([
        [1, ['a', 'b'], undefined],
        [2, ['1', '2'], undefined],
        [3, null, 'the line is longer than 20 bytes (the limit): it has 51, of which the first 20 are shown'],
        [4, ['3', '4'], undefined],
        [5, null, 'the line is longer than 20 bytes (the limit): it has 30, of which the first 20 are shown'],
      ]);
      expect([records[2]!.raw, records[4]!.raw]).toEqual(['x'.repeat(20), 'y'.repeat(20)]);
    }
  });

  it('gives up a quoted field still open before an overlong line, and reads the lines between again', async () => {
    const records = await readAll(`a,b\n1,"open\n2,ok\n${'x'.repeat(50)}\n3,4\n`, { maxLineBytes: 20 });
    expect(records.map((r) => [r.line, r.fields, r.error])).toEqual([
      [1, ['a', 'b'], undefined],
      [2, null, 'unclosed quote: the quoted field is not closed before line 4, which is too long to read'],
      [3, ['2', 'ok'], undefined],
      [4, null, 'the line is longer than 20 bytes (the limit): it has 51, of which the first 20 are shown'],
      [5, ['3', '4'], undefined],
    ]);
  });

  it('keeps the raw text of a malformed record for the errors file', async () => {
    const records = await readAll('a,b\n"x"y,1\n');
    expect(records[1]).toMatchObject({ line: 2, raw: '"x"y,1', fields: null });
  });
});

describe('csvLine', () => {
  it('quotes only fields that need it', () => {
    expect(csvLine(['plain', 'with,comma', 'with "quote"', 'line\nbreak'])).toBe('plain,"with,comma","with ""quote""","line\nbreak"\n');
  });

  it('round-trips through the reader', async () => {
    const fields = ['a,b', '"q"', '', 'x\ny'];
    const records = await readAll(csvLine(fields));
    expect(records[0]!.fields).toEqual(fields);
  });
});

import type { ByteRangePart } from '../plan';
import { readJsonl, scoreRecords } from '../score-records';
import type { BatchFormat } from './format';
import { planByteRanges, textOf, textRangeOf } from './text';

/** JSON Lines (one object keyed by feature name a line), scored into JSONL predictions. Split into byte ranges, which need no header. */
export const jsonl: BatchFormat<ByteRangePart> = {
  name: 'jsonl',
  extensions: ['jsonl', 'ndjson'],
  outputExtension: 'jsonl',
  score: (input, scorer, sinks, options) => scoreRecords(readJsonl(textOf(input)), scorer, sinks, options),
  plan: (input, partBytes) => planByteRanges('jsonl', input, partBytes),
  scorePart: (input, scorer, sinks, options) => {
    const { part } = input;
    return scoreRecords(readJsonl(textRangeOf(input, part.start, part.end), { lineOffset: part.firstLine - 1 }), scorer, sinks, options);
  },
};

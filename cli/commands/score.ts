import type { Command } from 'commander';
import { Predictor } from '../../core/model/predictor';
import { scoreFile, scoreOutputPaths } from '../../local/batch/score-file';
import { progress } from '../progress';
import { integer, openPackage } from '../args';

/** `mlops score`. */
export function registerScore(program: Command): void {
  program
    .command('score')
    .description('Score a CSV file: predictions, an errors file with every rejected row, and a manifest whose counts reconcile.')
    .argument('<package>', 'package folder')
    .argument('<input>', 'CSV file with a header row (.csv or .csv.gz)')
    .requiredOption('--out <file>', 'predictions CSV; <out>.errors.jsonl and <out>.manifest.json are written beside it')
    .option('--chunk <rows>', 'rows per model call', integer('--chunk'), 1024)
    .action(async (location, input, o) => {
      const predictor = await Predictor.create(await openPackage(location), { worker: true });
      const bar = progress('score', 100, '%');
      try {
        const manifest = await scoreFile(predictor, input, o.out, {
          chunkRows: o.chunk,
          onProgress: (_, read, total) => bar.update(Math.round((100 * read) / Math.max(total, 1))),
        });
        bar.stop();
        if (manifest.status === 'failed') throw new Error(`${input}: ${manifest.error}`);
        const paths = scoreOutputPaths(o.out);
        console.log(`${manifest.rowsIn} rows: ${manifest.scored} scored → ${paths.predictions}, ${manifest.rejected} rejected → ${paths.errors} (${manifest.durationMs} ms)`);
      } finally {
        bar.stop();
        await predictor.release();
      }
    });
}

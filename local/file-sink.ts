import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { TextSink } from '../core/batch/score-csv';

/**
 * A TextSink writing to `<path>.partial` with back-pressure; `commit` renames it into
 * place, so a reader never mistakes a half-written output for a complete one.
 */
export class PartialFileSink implements TextSink {
  private readonly stream: WriteStream;
  private readonly temporary: string;

  constructor(readonly path: string) {
    this.temporary = `${path}.partial`;
    this.stream = createWriteStream(this.temporary);
  }

  write(text: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.stream.once('error', onError);
      const flushed = this.stream.write(text, () => this.stream.off('error', onError));
      if (flushed) resolve();
      else this.stream.once('drain', resolve);
    });
  }

  async commit(): Promise<void> {
    await this.close();
    await rename(this.temporary, this.path);
  }

  async discard(): Promise<void> {
    await this.close();
    await rm(this.temporary, { force: true });
  }

  private close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stream.closed) return resolve();
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }
}

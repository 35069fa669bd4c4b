import { describe, expect, it } from 'vitest';
import { localConfig } from '../../local/config';

describe('localConfig', () => {
  it('fills the documented defaults', () => {
    expect(localConfig({})).toMatchObject({ port: 8080, s3Port: 4569, monitorSeconds: 60 });
  });

  it('names a bad variable and the value received', () => {
    expect(() => localConfig({ MLOPS_PORT: 'eighty' })).toThrow(/environment variable MLOPS_PORT .*\(got "eighty"\)/);
    expect(() => localConfig({ MLOPS_S3_PORT: '70000' })).toThrow(/MLOPS_S3_PORT/);
  });
});

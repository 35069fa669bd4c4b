import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FOLDERS = ['core', 'model-pipeline', 'functions', 'local', 'infra', 'cli'] as const;

function sourcesOf(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mts)$/.test(f))
    .map((f) => join(ROOT, folder, f));
}

/** Every module a file imports: project folders by name (`core`, …), packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
  return specifiers.map((s) => (s.startsWith('.') ? relative(ROOT, resolve(dirname(file), s)).split('/')[0]! : s));
}

function violations(folder: string, allowed: (target: string) => boolean): string[] {
  return sourcesOf(folder).flatMap((file) => importsOf(file).filter((target) => !allowed(target)).map((target) => `${relative(ROOT, file)} imports ${target}`));
}

const isProjectFolder = (target: string) => (FOLDERS as readonly string[]).includes(target);
const isCloudLibrary = (target: string) => /^(@aws-sdk\/|@smithy\/|aws-cdk-lib|constructs$|@aws-lambda-powertools\/)/.test(target);

describe('imports point inward (DESIGN.md)', () => {
  it('sees the imports it checks (functions/ uses core/ and the AWS SDK; infra/ uses aws-cdk-lib)', () => {
    const targets = (folder: string) => new Set(sourcesOf(folder).flatMap(importsOf));

    expect([...targets('functions')]).toEqual(expect.arrayContaining(['core', '@aws-sdk/client-s3']));
    expect(targets('infra').has('aws-cdk-lib')).toBe(true);
  });

  it('core/ imports no other project folder and no AWS library', () => {
    expect(violations('core', (t) => t === 'core' || (!isProjectFolder(t) && !isCloudLibrary(t)))).toEqual([]);
  });

  it('model-pipeline/ imports only core/ of the project, and no AWS library', () => {
    expect(violations('model-pipeline', (t) => t === 'core' || t === 'model-pipeline' || (!isProjectFolder(t) && !isCloudLibrary(t)))).toEqual([]);
  });

  it('functions/ and local/ never import the CDK app or the CLI', () => {
    const adapters = (t: string) => t !== 'infra' && t !== 'cli' && !/^(aws-cdk-lib|constructs$)/.test(t);
    expect([...violations('functions', adapters), ...violations('local', adapters)]).toEqual([]);
  });
});

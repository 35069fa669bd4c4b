#!/usr/bin/env node
// The `mlops` command. tsx compiles the TypeScript sources on the fly, so the CLI,
// the tests and the local platform all run the same files with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');

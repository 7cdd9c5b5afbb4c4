#!/usr/bin/env node
// Runs the compiled CLI. `npm install` / `npm ci` build it (root "prepare" script);
// during development `npm run braintune -- …` runs the TypeScript sources directly.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/main.js', import.meta.url);
if (!existsSync(compiled)) {
  console.error('braintune is not built yet: run `npm run build` in the repository root.');
  process.exit(1);
}
await import(compiled.href);

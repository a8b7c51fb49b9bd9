#!/usr/bin/env node
// The `hub` command: runs the compiled CLI (`npm run build`, or `npm ci`'s prepare step, makes it).
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('hub: the CLI is not built yet; run `npm run build` at the repository root');
  process.exit(2);
}
await import(main.href);

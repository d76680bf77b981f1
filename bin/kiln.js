#!/usr/bin/env node
// Runs the compiled CLI from dist/ (no transpiler on the start-up path). `npm run build` makes dist/.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: kiln is not built\nhint: run `npm run build` in the kiln checkout\n');
  process.exit(70);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
process.exitCode = code;

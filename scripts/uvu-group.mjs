// Loads the given uvu test files into one process and runs them (uvu's own runner, minus its CLI's file search).
import { run } from 'uvu/run';
import { basename } from 'node:path';
const files = process.argv.slice(2);
await run(
  files.map((file) => ({ name: basename(file), file })),
  {},
);

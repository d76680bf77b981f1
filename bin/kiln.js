#!/usr/bin/env node
// Runs the compiled CLI from dist/ (no transpiler on the start-up path). `npm run build` makes dist/.
// A `kiln build` goes to the root's resident builder when one is up (dist/cli/daemon/client.js loads only node
// built-ins); otherwise it runs here and, when it succeeds, starts one for the next build. KILN_DAEMON=0 opts out.
import { existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: kiln is not built\nhint: run `npm run build` in the kiln checkout\n');
  process.exit(70);
}
try {
  process.cwd();
} catch {
  // Every relative path would resolve against it (and Node would print a stack trace on the first try).
  process.stderr.write('error: the current directory no longer exists\nhint: cd to an existing directory and run kiln again\n');
  process.exit(2);
}
const { serveThroughDaemon } = await import(new URL('../dist/cli/daemon/client.js', import.meta.url).href);
const outcome = await serveThroughDaemon(process.argv);
if (outcome.served) {
  process.exitCode = outcome.code;
} else {
  const { main } = await import(entry.href);
  const code = await main(process.argv);
  process.exitCode = code;
  if (code === 0) outcome.startDaemon?.();
}

// Copies the web page's static files (src/server/ui/assets: HTML, CSS, ES modules — no build step) next to the
// compiled server in dist/, where serve-ui.js reads them. tsc copies only .ts output, so the build runs this after it.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../src/server/ui/assets/', import.meta.url);
const to = new URL('../dist/server/ui/assets/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });

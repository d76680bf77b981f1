// Writes dist/build-id after tsc: the resident builder (src/cli/daemon) serves only clients of the same
// build, and retires when the stamp changes, so a rebuilt kiln never talks to a daemon running old code.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/build-id', import.meta.url), `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}\n`);

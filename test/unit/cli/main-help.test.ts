import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { commandModules } from '../../../src/cli/commands/index.js';
import type { CliIo } from '../../../src/cli/io.js';
import { main } from '../../../src/cli/main.js';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(c: Buffer, _e, cb) {
        add(c.toString());
        cb();
      },
    });
  const io: CliIo = {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: {},
    cwd: '/',
    interruptions: () => ({ signal: new AbortController().signal, dispose() {} }),
  };
  return { io, out: () => out, err: () => err };
}

test('kiln --help registers every command module once and lists every command', async () => {
  const c = capture();
  assert.is(await main(['node', 'kiln', '--help'], c.io), 0, c.err());
  for (const name of Object.keys(commandModules)) assert.match(c.out(), new RegExp(`^  ${name}\\b`, 'm'), name);
});

test("an unknown command is a usage error with a suggestion, on the caller's stderr", async () => {
  const c = capture();
  assert.is(await main(['node', 'kiln', 'bogus'], c.io), 2);
  assert.match(c.err(), /unknown command 'bogus'/);
});

test.run();

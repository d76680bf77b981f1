import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { StatusCommand } from '../../../src/cli/exit-status.js';
import type { CliIo } from '../../../src/cli/io.js';
import { main } from '../../../src/cli/main.js';

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
const io = (): CliIo => ({ stdout: sink(), stderr: sink(), env: {}, cwd: '/', interruptions: () => ({ signal: new AbortController().signal, dispose() {} }) });

test("an action's returned status lands on its own program (nested commands too), never on process.exitCode", async () => {
  const before = process.exitCode;
  const make = () => {
    const p = new StatusCommand('kiln').exitOverride();
    p.command('run').action(async () => 7);
    p.command('ok').action(() => {});
    p.command('volume')
      .command('rm')
      .action(() => 3);
    return p;
  };
  const a = make(),
    b = make(),
    c = make(),
    d = make();
  await a.parseAsync(['node', 'kiln', 'run']);
  await b.parseAsync(['node', 'kiln', 'ok']);
  await c.parseAsync(['node', 'kiln', 'volume', 'rm']);
  await d.parseAsync(['node', 'kiln', 'run']);
  assert.is(a.exitStatus, 7);
  assert.is(b.exitStatus, undefined, "a program of its own: another invocation's status does not leak");
  assert.is(c.exitStatus, 3);
  assert.is(d.exitStatus, 7);
  assert.is(process.exitCode, before);
});

test("main() returns its own invocation's status, whatever process.exitCode holds (the resident builder serves many)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-exit-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  const saved = process.exitCode;
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write; // outline prints to this process's stdout
  try {
    process.exitCode = 5; // as a previous, failed invocation in the same process might have left it
    assert.is(await main(['node', 'kiln', 'outline', dir], io()), 0);
    assert.is(await main(['node', 'kiln', 'outline', join(dir, 'missing')], io()), 3, "not found: the error's own code");
  } finally {
    process.stdout.write = write;
    process.exitCode = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

/**
 * The runc that starts containers is this process's sealed in-memory copy of the runc on PATH: the same program,
 * which nothing (a container holding a descriptor of it included, CVE-2019-5736) can write, and which runc itself
 * recognises as its protective copy (it skips making one at every start).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { runcExecutable } from '../../../src/sandbox/runc.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('runc is executed from a sealed memfd holding the same bytes as the runc on PATH', () => {
  const exe = runcExecutable();
  assert.match(exe, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
  assert.match(readlinkSync(exe), /^\/memfd:kiln-runc/);
  const onPath = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
  assert.is(sha(readFileSync(exe)), sha(readFileSync(onPath)));
  assert.is(execFileSync(exe, ['--version'], { encoding: 'utf8' }), execFileSync(onPath, ['--version'], { encoding: 'utf8' }));
  assert.is(runcExecutable(), exe, 'one copy per process while the binary is unchanged');
});

test('the copy cannot be written, grown or shrunk, even through a descriptor opened for writing', () => {
  // The seals runc 1.1 checks (is_self_cloned) before skipping its own copy: write, grow, shrink (and seal).
  const fd = openSync(runcExecutable(), 'r+');
  try {
    assert.throws(() => writeSync(fd, Buffer.from('overwritten'), 0, 11, 0), /EPERM/);
    assert.throws(() => ftruncateSync(fd, 0), /EPERM/);
    assert.throws(() => writeSync(fd, Buffer.from('x'), 0, 1, fstatSync(fd).size), /EPERM/);
  } finally {
    closeSync(fd);
  }
});

test.run();

/**
 * readImageTextFile: an image's /etc/passwd is read only when it is a regular file reached without a symlink, and
 * through the descriptor that was checked: a FIFO never blocks, a device is never read, and a directory swapped
 * for a symlink after resolution (a running container racing `kiln exec -u NAME`) is refused, not followed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageTextFile } from '../../../src/sandbox/image-file.js';
import { isKilnError } from '../../../src/errors.js';

let dir: string;
let root: string;
let host: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-image-file-'));
  root = join(dir, 'rootfs');
  host = join(dir, 'host');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(host, 'passwd'), 'host-secret:x:0:0::/:/bin/sh\n');
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

function refused(fn: () => unknown, why: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isKilnError(err), String(err));
    assert.is((err as { code: string }).code, 'UNSAFE_PATH');
    assert.match((err as Error).message, why);
    assert.not.match((err as Error).message, /host-secret/);
    return;
  }
  assert.unreachable('refused');
}

test('a regular file is read; a missing one (or a missing parent) is undefined', () => {
  writeFileSync(join(root, 'etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  assert.is(readImageTextFile(root, join(root, 'etc/passwd'), '/etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  assert.is(readImageTextFile(root, join(root, 'etc/group'), '/etc/group'), undefined);
  writeFileSync(join(root, 'file'), 'x');
  assert.is(readImageTextFile(root, join(root, 'file/passwd'), '/file/passwd'), undefined);
});

test('a FIFO or a device node is refused without being opened for reading', () => {
  execFileSync('mkfifo', [join(root, 'etc/passwd')]);
  refused(() => readImageTextFile(root, join(root, 'etc/passwd'), '/etc/passwd'), /\/etc\/passwd in the image is not a regular file/);
});

test('a file larger than any real database is refused', () => {
  writeFileSync(join(root, 'etc/passwd'), '');
  truncateSync(join(root, 'etc/passwd'), 17 << 20);
  refused(() => readImageTextFile(root, join(root, 'etc/passwd'), '/etc/passwd'), /larger than 16 MiB/);
});

test('/etc swapped for a symlink to a host directory after resolution is refused, the host file unread', () => {
  const resolved = join(root, 'etc/passwd'); // what src/paths/ returned while /etc was a directory
  renameSync(join(root, 'etc'), join(root, 'etc.old'));
  symlinkSync(host, join(root, 'etc'));
  refused(() => readImageTextFile(root, resolved, '/etc/passwd'), /changed into a symlink/);
});

test('a final component swapped for a symlink is refused too', () => {
  const resolved = join(root, 'etc/passwd');
  symlinkSync(join(host, 'passwd'), resolved);
  refused(() => readImageTextFile(root, resolved, '/etc/passwd'), /changed into a symlink/);
});

test.run();

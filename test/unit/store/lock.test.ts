import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock, isOwnerAlive, ownerToken, withLock } from '../../../src/cache/lock.js';
import { rejects } from '../../helpers/assert.js';
import { cleanupRoots, tempDir } from './store-fixtures.js';

test.after(cleanupRoots);

/** The owner token of a process that has exited. */
function deadToken(): string {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return `${r.stdout}.12345`;
}

test('ownerToken() names a live process; a finished one is dead', () => {
  assert.ok(isOwnerAlive(ownerToken()));
  assert.not.ok(isOwnerAlive(deadToken()));
  assert.not.ok(isOwnerAlive('garbage'));
});

test('withLock() serialises critical sections in one process', async () => {
  const dir = await tempDir();
  let inside = 0;
  let max = 0;
  await Promise.all(
    Array.from({ length: 8 }, () =>
      withLock(dir, 'x', async () => {
        inside++;
        max = Math.max(max, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      }),
    ),
  );
  assert.is(max, 1);
});

test('a lock held by a dead process is taken over', async () => {
  const dir = await tempDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'x.lock'), `${deadToken()} abc\n`);
  const lock = await acquireLock(join(dir, 'x.lock'), { timeoutMs: 2000 });
  assert.match(await readFile(join(dir, 'x.lock'), 'utf8'), new RegExp(`^${ownerToken()} `));
  await lock.release();
});

test('a lock held by a live process times out with LOCKED naming the holder', async () => {
  const dir = await tempDir();
  const held = await acquireLock(join(dir, 'x.lock'));
  await rejects(() => acquireLock(join(dir, 'x.lock'), { timeoutMs: 50 }), 'LOCKED', new RegExp(`process ${process.pid}`));
  await held.release();
  const again = await acquireLock(join(dir, 'x.lock'), { timeoutMs: 50 });
  await again.release();
});

test('release() does not remove a lock someone else holds now', async () => {
  const dir = await tempDir();
  const a = await acquireLock(join(dir, 'x.lock'));
  await writeFile(join(dir, 'x.lock'), `${ownerToken()} other\n`);
  await a.release();
  assert.match(await readFile(join(dir, 'x.lock'), 'utf8'), /other/);
});

test.run();

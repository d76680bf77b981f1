import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFile, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogReader } from '../../../src/containers/log-reader.js';

test('each record is read once; a torn last line waits for its end; what is not a record is skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-log-reader-'));
  try {
    const path = join(dir, 'log.json');
    const reader = createLogReader(path);
    assert.equal(await reader.next(), [], 'no file yet');
    const rec = (log: string, stream = 'stdout') => JSON.stringify({ log, stream, time: '2026-01-01T00:00:00Z' });
    await writeFile(path, `${rec('a\n')}\nnot json\n${rec('b\n', 'stderr').slice(0, 10)}`);
    assert.equal(
      (await reader.next()).map((r) => r.log),
      ['a\n'],
    );
    await appendFile(path, `${rec('b\n', 'stderr').slice(10)}\n{"log":1}\n`);
    assert.equal(await reader.next(), [{ log: 'b\n', stream: 'stderr', time: '2026-01-01T00:00:00Z' }]);
    assert.equal(await reader.next(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a log.json planted as a symlink is not followed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-log-reader-'));
  try {
    await writeFile(join(dir, 'secret'), `${JSON.stringify({ log: 'secret\n', stream: 'stdout' })}\n`);
    await symlink(join(dir, 'secret'), join(dir, 'log.json'));
    assert.equal(await createLogReader(join(dir, 'log.json')).next(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();

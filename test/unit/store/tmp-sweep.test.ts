import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerToken } from '../../../src/cache/lock.js';
import { openRoot, rootPaths } from '../../../src/cache/root.js';
import { sweepTemp } from '../../../src/cache/tmp-sweep.js';
import { cleanupRoots, tempDir } from './store-fixtures.js';

test.after(cleanupRoots);

const deadPid = () => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;

test("openRoot() sweeps dead processes' tmp dirs and leases, and keeps live ones", async () => {
  const dir = await tempDir();
  const p = rootPaths(dir);
  const dead = `${deadPid()}.999`;
  await mkdir(join(p.tmp, `${dead}-aaaa`), { recursive: true });
  await writeFile(join(p.tmp, `${dead}-aaaa`, 'blob-partial'), 'x');
  await mkdir(join(p.tmp, `${ownerToken()}-live`), { recursive: true });
  await mkdir(join(p.tmp, 'foreign-recent'), { recursive: true });
  await mkdir(join(p.tmp, 'foreign-old'), { recursive: true });
  const old = new Date(Date.now() - 48 * 3600e3);
  await utimes(join(p.tmp, 'foreign-old'), old, old);
  await mkdir(p.leases, { recursive: true });
  await writeFile(join(p.leases, `${dead}-l1.json`), JSON.stringify({ digests: [] }));
  await writeFile(join(p.leases, '.x.json.tmp-abc'), '{');
  await utimes(join(p.leases, '.x.json.tmp-abc'), old, old);
  const root = await openRoot(dir);
  const left = (await readdir(p.tmp)).sort();
  assert.equal(left, [`${ownerToken()}-live`, root.tmpDir.split('/').pop()!, 'foreign-recent'].sort());
  assert.equal(await readdir(p.leases), []);
  assert.is(await sweepTemp(p), 0, 'a second sweep finds nothing');
  await root.close();
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainerStore, randomName, type ContainerRecord } from '../../../src/containers/containers.js';
import { createVolumeStore } from '../../../src/containers/volumes.js';
import { rejects } from '../../helpers/assert.js';

let root = '';
test.before.each(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-stores-'));
});
test.after.each(() => rm(root, { recursive: true, force: true }));

const rec = (id: string, name: string, created = new Date().toISOString()): ContainerRecord => ({
  id,
  name,
  image: 'busybox',
  imageId: 'sha256:x',
  created,
  status: 'created',
  autoRemove: false,
  detached: false,
  volumes: [],
  spec: { rootfs: [], process: { args: ['true'], env: [] }, mounts: [], network: 'none', ports: [] },
});

test('containers are found by id, unique prefix or name; names are unique', async () => {
  const s = createContainerStore({ root });
  await s.create(rec('aaaa1111', 'one', '2026-01-01T00:00:00Z'));
  await s.create(rec('aaaa2222', 'two', '2026-01-02T00:00:00Z'));
  assert.is((await s.get('one')).id, 'aaaa1111');
  assert.is((await s.get('aaaa2')).name, 'two');
  assert.is((await s.get('/two')).id, 'aaaa2222');
  await rejects(() => s.get('aaaa'), 'INVALID_ARGUMENT', /multiple containers/);
  await rejects(() => s.get('zzz'), 'CONTAINER_NOT_FOUND', /no such container: zzz/);
  await rejects(() => s.create(rec('bbbb', 'one')), 'CONTAINER_EXISTS', /"\/one" is already in use/);
  assert.equal(
    (await s.list()).map((r) => r.name),
    ['two', 'one'],
    'newest first',
  );
  const up = await s.update('aaaa1111', { status: 'exited', exitCode: 3 });
  assert.is(up.exitCode, 3);
  assert.is((await s.get('one')).status, 'exited');
  await s.remove('aaaa1111');
  await rejects(() => s.get('one'), 'CONTAINER_NOT_FOUND');
  assert.match(randomName(), /^[a-z]+_[a-z]+$/);
});

test('volumes: create is idempotent, names are checked, a volume in use needs force', async () => {
  const users = new Map<string, string[]>([['busy', ['c1']]]);
  const v = createVolumeStore({ root, inUse: async (n) => users.get(n) ?? [] });
  const a = await v.create('data');
  await writeFile(join(a.mountpoint, 'f'), 'x');
  assert.equal(await v.create('data'), a);
  const anon = await v.create(undefined, { anonymous: true });
  assert.match(anon.name, /^[0-9a-f]{64}$/);
  await rejects(() => v.create('-bad'), 'INVALID_ARGUMENT');
  await v.create('busy');
  await rejects(() => v.remove('busy'), 'VOLUME_IN_USE', /in use - \[c1\]/);
  await v.remove('busy', { force: true });
  assert.equal((await v.list()).map((x) => x.name).sort(), [anon.name, 'data'].sort());
  await v.remove('data');
  await rejects(() => v.inspect('data'), 'VOLUME_NOT_FOUND');
  await rejects(() => v.remove('nope'), 'VOLUME_NOT_FOUND');
});

test.run();

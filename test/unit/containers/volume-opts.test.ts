/** The local driver's options, `-v` modes, `--volumes-from` and the volume store's records, without root. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDriverOpts } from '../../../src/containers/volume-opts.js';
import { parseVolume, parseVolumesFrom } from '../../../src/containers/run-config.js';
import { createVolumeStore } from '../../../src/containers/volumes.js';
import { volumeMount, volumesFromMounts } from '../../../src/containers/volume-mounts.js';
import { emitVolumeEvents } from '../../../src/containers/volume-events.js';
import type { ContainerRecord } from '../../../src/containers/containers.js';
import { rejects, throwsCode } from '../../helpers/assert.js';

test('parseDriverOpts(): none is a directory; tmpfs and bind as the local driver', () => {
  assert.equal(parseDriverOpts(undefined), { kind: 'directory' });
  assert.equal(parseDriverOpts({}), { kind: 'directory' });
  assert.equal(parseDriverOpts({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,uid=1000,gid=1000' }), {
    kind: 'tmpfs',
    options: ['size=64m', 'uid=1000', 'gid=1000'],
  });
  assert.equal(parseDriverOpts({ type: 'tmpfs', o: 'size=50%,noexec' }), { kind: 'tmpfs', options: ['size=50%', 'noexec'] });
  assert.equal(parseDriverOpts({ type: 'none', o: 'bind', device: '/srv/a/../b' }), { kind: 'bind', device: '/srv/b', readonly: false });
  assert.equal(parseDriverOpts({ type: 'none', o: 'bind,ro', device: '/srv' }), { kind: 'bind', device: '/srv', readonly: true });
});

const BAD: Array<[Record<string, string>, RegExp]> = [
  [{ size: '10m' }, /invalid option key: "size"/],
  [{ foo: 'x' }, /invalid option key: "foo"/],
  [{ type: 'nfs', device: ':/x', o: 'addr=1.2.3.4' }, /volume type "nfs" is not supported/],
  [{ type: 'ext4', device: '/dev/sda1' }, /volume type "ext4"/],
  [{ type: 'tmpfs', device: '/dev/sda' }, /device=\/dev\/sda/],
  [{ type: 'tmpfs', o: 'size=lots' }, /invalid tmpfs size "lots"/],
  [{ type: 'tmpfs', o: 'size=0' }, /invalid tmpfs size/],
  [{ type: 'tmpfs', o: 'uid=root' }, /a number is expected/],
  [{ type: 'tmpfs', o: 'suid=1' }, /invalid tmpfs option "suid=1"/],
  [{ type: 'tmpfs', o: 'remount' }, /invalid tmpfs option "remount"/],
  [{ type: 'none', device: '/srv' }, /type=none needs o=bind/],
  [{ type: 'none', o: 'bind', device: 'rel' }, /absolute host path/],
  [{ type: 'none', o: 'bind,shared', device: '/srv' }, /invalid bind option "shared"/],
  [{ device: '/srv' }, /device and o need type/],
];
for (const [opts, re] of BAD) {
  test(`parseDriverOpts(${JSON.stringify(opts)}) is refused`, () => {
    throwsCode(() => parseDriverOpts(opts), 'INVALID_ARGUMENT', re);
  });
}

test("parseDriverOpts(): a tmpfs mode is refused as not implemented (runc resets it to the mount point's)", () => {
  throwsCode(() => parseDriverOpts({ type: 'tmpfs', o: 'size=1m,mode=1777' }), 'NOT_IMPLEMENTED', /runc resets a tmpfs's mode/);
});

test('parseVolume(): nocopy, with ro/rw, for volumes only', () => {
  assert.equal(parseVolume('vv:/d:nocopy'), { kind: 'volume', name: 'vv', target: '/d', readonly: false, nocopy: true });
  assert.equal(parseVolume('vv:/d:ro,nocopy'), { kind: 'volume', name: 'vv', target: '/d', readonly: true, nocopy: true });
  assert.equal(parseVolume('/d:nocopy'), { kind: 'anonymous', target: '/d', readonly: false, nocopy: true });
  throwsCode(() => parseVolume('/h:/d:nocopy'), 'INVALID_ARGUMENT', /nocopy applies to volumes/);
  throwsCode(() => parseVolume('vv:/d:ro,rw'), 'INVALID_ARGUMENT', /both ro and rw/);
  throwsCode(() => parseVolume('vv:/d:z'), 'INVALID_ARGUMENT', /invalid mode "z"/);
});

test('parseVolumesFrom(): CONTAINER[:ro|rw]', () => {
  assert.equal(parseVolumesFrom('web'), { container: 'web' });
  assert.equal(parseVolumesFrom('web:ro'), { container: 'web', mode: 'ro' });
  assert.equal(parseVolumesFrom('web:rw'), { container: 'web', mode: 'rw' });
  throwsCode(() => parseVolumesFrom('web:x'), 'INVALID_ARGUMENT', /invalid mode "x"/);
  throwsCode(() => parseVolumesFrom(':ro'), 'INVALID_ARGUMENT');
});

test('volume store: records driver opts, refuses other drivers, bad names and bad opts; create of an existing name returns it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-vol-unit-'));
  try {
    const s = createVolumeStore({ root });
    const v = await s.create('tt', { driverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }, labels: { a: 'b' } });
    assert.equal(v.options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
    assert.match(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((await s.create('tt', { labels: { other: 'x' } })).labels, { a: 'b' });
    assert.is((await s.create()).name.length, 64);
    await rejects(() => s.create('xx', { driver: 'nfs' }), 'INVALID_ARGUMENT', /"nfs" is not supported/);
    await rejects(() => s.create('yy', { driverOpts: { type: 'ext4' } }), 'INVALID_ARGUMENT', /ext4/);
    for (const bad of ['..', '../etc', 'a/b', '.x', 'x']) await rejects(() => s.create(bad), 'INVALID_ARGUMENT', /invalid volume name/);
    await rejects(() => s.inspect('../volumes/tt'), 'VOLUME_NOT_FOUND');
    assert.equal(
      (await s.list()).map((x) => x.name).filter((n) => n.length < 64),
      ['tt'],
    );
    // create and destroy are volume events, as dockerd's.
    await s.remove('tt');
    const events = readFileSync(join(root, 'events', 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(
      events.filter((e) => e.Actor.ID === 'tt').map((e) => [e.Type, e.Action, e.Actor.Attributes.driver]),
      [
        ['volume', 'create', 'local'],
        ['volume', 'destroy', 'local'],
      ],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('volumeMount(): a plain volume binds _data with copy-up (not with nocopy); tmpfs per container; a bind device', async () => {
  const base = { name: 'n', driver: 'local' as const, mountpoint: '/r/volumes/n/_data', createdAt: '', anonymous: false, labels: {} };
  assert.equal(await volumeMount(base, { target: '/d', readonly: false }), {
    type: 'bind',
    source: '/r/volumes/n/_data',
    target: '/d',
    readonly: false,
    copyUp: true,
    volume: 'n',
  });
  assert.is((await volumeMount(base, { target: '/d', readonly: false, nocopy: true })).copyUp, false);
  assert.equal(await volumeMount({ ...base, options: { type: 'tmpfs', o: 'size=1m,ro' } }, { target: '/d', readonly: false }), {
    type: 'tmpfs',
    target: '/d',
    readonly: true,
    options: ['size=1m'],
    volume: 'n',
  });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vol-dev-'));
  try {
    const m = await volumeMount({ ...base, options: { type: 'none', o: 'bind', device: dir } }, { target: '/d', readonly: true });
    assert.equal(m, { type: 'bind', source: dir, target: '/d', readonly: true, copyUp: true, volume: 'n' });
    await rejects(
      () => volumeMount({ ...base, options: { type: 'none', o: 'bind', device: join(dir, 'gone') } }, { target: '/d', readonly: false }),
      'INVALID_ARGUMENT',
      /not a directory/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('volumesFromMounts(): volumes and binds at the same destinations, mode overridable, --tmpfs and taken targets skipped', async () => {
  const rec = {
    id: 'a'.repeat(64),
    spec: {
      mounts: [
        { type: 'bind', source: '/r/volumes/v/_data', target: '/v', readonly: false, copyUp: true, volume: 'v' },
        { type: 'bind', source: '/srv/h', target: '/h', readonly: true },
        { type: 'tmpfs', target: '/run', options: [] },
        { type: 'tmpfs', target: '/t', options: ['size=1m'], volume: 't' },
        { type: 'bind', source: '/srv/x', target: '/x' },
      ],
    },
  } as unknown as ContainerRecord;
  const store = { get: async (n: string) => (n === 'src' ? rec : Promise.reject(new Error('no'))) };
  const r = await volumesFromMounts(store, ['src'], new Set(['/x']));
  assert.equal(r.mounts, [
    { type: 'bind', source: '/r/volumes/v/_data', target: '/v', readonly: false, volume: 'v' },
    { type: 'bind', source: '/srv/h', target: '/h', readonly: true },
    { type: 'tmpfs', target: '/t', options: ['size=1m'], volume: 't', readonly: false },
  ]);
  assert.equal(r.volumes, [
    { name: 'v', anonymous: false },
    { name: 't', anonymous: false },
  ]);
  const ro = await volumesFromMounts(store, ['src:ro'], new Set());
  assert.ok(ro.mounts.every((m) => m.readonly));
  const rw = await volumesFromMounts(store, ['src:rw'], new Set());
  assert.ok(rw.mounts.every((m) => !m.readonly));
});

test("emitVolumeEvents(): mount and unmount per volume, with dockerd's attributes; binds and --tmpfs emit nothing", () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-vol-events-'));
  try {
    const mounts = [
      { type: 'bind' as const, source: '/r/v/_data', target: '/data', readonly: true, volume: 'vv' },
      { type: 'bind' as const, source: '/srv', target: '/srv' },
      { type: 'tmpfs' as const, target: '/run' },
    ];
    emitVolumeEvents(root, 'c1', mounts, 'mount');
    emitVolumeEvents(root, 'c1', mounts, 'unmount');
    const events = readFileSync(join(root, 'events', 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(
      events.map((e) => [e.Type, e.Action, e.Actor.ID, e.Actor.Attributes]),
      [
        ['volume', 'mount', 'vv', { driver: 'local', container: 'c1', destination: '/data', 'read/write': 'false', propagation: '' }],
        ['volume', 'unmount', 'vv', { driver: 'local', container: 'c1' }],
      ],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();

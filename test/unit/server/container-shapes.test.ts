import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ContainerRecord } from '../../../src/containers/containers.js';
import { containerInspect, containerSummary } from '../../../src/server/container-shapes.js';
import { statusText } from '../../../src/containers/container-status.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function record(patch: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: 'a'.repeat(64),
    name: 'web',
    image: 'busybox',
    imageId: `sha256:${'b'.repeat(64)}`,
    created: ago(600_000),
    status: 'created',
    autoRemove: false,
    detached: true,
    volumes: [{ name: 'data', anonymous: false }],
    labels: { team: 'a' },
    spec: {
      rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l1:/l2', 'upperdir=/u', 'workdir=/w'] }],
      process: { args: ['/entry.sh', 'serve'], env: ['PATH=/bin'] },
      mounts: [{ type: 'bind', source: '/root/volumes/data/_data', target: '/data' }],
      network: 'bridge',
      ports: [],
    },
    ...patch,
  };
}

test("statusText() words the STATUS column as dockerd's", () => {
  const t = (p: Partial<ContainerRecord>) => statusText(record(p), NOW);
  assert.is(t({}), 'Created');
  assert.is(t({ status: 'running', startedAt: ago(300) }), 'Up Less than a second');
  assert.is(t({ status: 'running', startedAt: ago(180_000) }), 'Up 3 minutes');
  assert.is(t({ status: 'running', startedAt: ago(180_000), paused: true }), 'Up 3 minutes (Paused)');
  assert.is(
    t({ status: 'running', startedAt: ago(5000), healthcheck: { test: ['CMD', 'true'] }, health: { status: 'starting', failingStreak: 0, log: [] } }),
    'Up 5 seconds (health: starting)',
  );
  assert.is(
    t({ status: 'running', startedAt: ago(5000), healthcheck: { test: ['CMD', 'true'] }, health: { status: 'healthy', failingStreak: 0, log: [] } }),
    'Up 5 seconds (healthy)',
  );
  assert.is(t({ status: 'exited', exitCode: 3, startedAt: ago(9000), finishedAt: ago(2000) }), 'Exited (3) 2 seconds ago');
});

test('the list row: networks from the record when present, else the bridge with its address; volumes as volume mounts', () => {
  const plain = containerSummary(record({ status: 'running', startedAt: ago(1000), ip: '10.89.0.7' }), { root: '/root' });
  assert.equal(Object.keys(plain.NetworkSettings!.Networks), ['bridge']);
  assert.is((plain.NetworkSettings!.Networks.bridge as { IPAddress: string }).IPAddress, '10.89.0.7');
  assert.is(plain.HostConfig!.NetworkMode, 'default');
  assert.equal(plain.Mounts, [
    { Type: 'volume', Name: 'data', Source: '/root/volumes/data/_data', Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
  ]);
  assert.not.ok('SizeRootFs' in plain);
  const joined = containerSummary(
    record({
      status: 'running',
      networks: {
        app: {
          networkId: 'n'.repeat(64),
          endpointId: 'e'.repeat(64),
          aliases: ['web'],
          ip: '10.90.0.2',
          prefixLen: 24,
          gateway: '10.90.0.1',
          mac: '02:42:0a:5a:00:02',
        },
      },
    }),
    { root: '/root', sizes: { rw: 0, rootFs: 100 } },
  );
  assert.equal(Object.keys(joined.NetworkSettings!.Networks), ['app']);
  assert.is(joined.HostConfig!.NetworkMode, 'app');
  assert.is(joined.SizeRootFs, 100);
  assert.not.ok('SizeRw' in joined, 'omitted when 0, as dockerd');
});

test('inspect: zero times, Entrypoint split back with the image, Health only with a check, restart policy', () => {
  const created = containerInspect(record(), { root: '/root', imageEntrypoint: ['/entry.sh'] });
  assert.is(created.State.StartedAt, '0001-01-01T00:00:00Z');
  assert.is(created.State.FinishedAt, '0001-01-01T00:00:00Z');
  assert.equal(created.Config.Entrypoint, ['/entry.sh']);
  assert.equal(created.Config.Cmd, ['serve']);
  assert.is(created.Path, '/entry.sh');
  assert.equal(created.Args, ['serve']);
  assert.not.ok('Health' in created.State);
  assert.equal(created.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.equal(created.HostConfig.Binds, ['data:/data']);
  assert.equal(created.GraphDriver.Data.LowerDir, '/l1:/l2');
  const checked = containerInspect(
    record({
      status: 'running',
      startedAt: ago(1000),
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      restartCount: 2,
      healthcheck: { test: ['CMD', 'true'], intervalNs: 1e9 },
      health: { status: 'healthy', failingStreak: 0, log: [{ start: ago(900), end: ago(800), exitCode: 0, output: '' }] },
    }),
    { root: '/root' },
  );
  assert.is((checked.State as { Health?: { Status: string } }).Health?.Status, 'healthy');
  assert.equal((checked.Config as { Healthcheck?: object }).Healthcheck, { Test: ['CMD', 'true'], Interval: 1e9 });
  assert.equal(checked.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.is(checked.RestartCount, 2);
  assert.equal(checked.Config.Entrypoint, null);
  assert.equal(checked.Config.Cmd, ['/entry.sh', 'serve']);
});

test.run();

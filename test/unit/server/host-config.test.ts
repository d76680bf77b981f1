import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostOptions } from '../../../src/server/host-config.js';
import { throwsCode } from '../../helpers/assert.js';

test('hostOptions() treats the docker CLI\'s zero values as unset', () => {
  assert.equal(hostOptions({ Image: 'busybox', Hostname: '', HostConfig: { Privileged: false, CapAdd: null, CapDrop: null, SecurityOpt: null, ReadonlyRootfs: false, Tmpfs: null, Memory: 0, NanoCpus: 0, PidsLimit: null, ExtraHosts: null } }), {});
  assert.equal(hostOptions({ Image: 'busybox', HostConfig: { PidsLimit: -1 } }), {});
});

test('hostOptions() maps what docker run sets', () => {
  const o = hostOptions({
    Image: 'busybox', Hostname: 'box',
    HostConfig: {
      ExtraHosts: ['peer:10.0.0.2'], CapAdd: ['NET_ADMIN'], CapDrop: ['ALL'], ReadonlyRootfs: true, Tmpfs: { '/run': '', '/scratch': 'size=1m' },
      Memory: 64 << 20, NanoCpus: 1_500_000_000, PidsLimit: 100, SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
    },
  });
  assert.equal(o, {
    hostname: 'box', addHosts: ['peer:10.0.0.2'], capAdd: ['NET_ADMIN'], capDrop: ['ALL'], readonlyRootfs: true, tmpfs: ['/run', '/scratch:size=1m'],
    limits: { memoryBytes: 64 << 20, cpus: 1.5, pids: 100 }, seccomp: 'unconfined',
  });
  const p = hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'] } });
  assert.equal(p.seccomp, { profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] } });
});

test('hostOptions() passes Privileged on', () => {
  assert.equal(hostOptions({ Image: 'b', HostConfig: { Privileged: true } }), { privileged: true });
});

test('hostOptions() takes ConsoleSize as the terminal\'s starting size; [0, 0] and malformed sizes are no size', () => {
  assert.equal(hostOptions({ Image: 'b', HostConfig: { ConsoleSize: [40, 120] } }).consoleSize, [40, 120]);
  assert.is(hostOptions({ Image: 'b', HostConfig: { ConsoleSize: [0, 0] } }).consoleSize, undefined);
  assert.is(hostOptions({ Image: 'b', HostConfig: { ConsoleSize: [40.5, 1] as [number, number] } }).consoleSize, undefined);
  assert.is(hostOptions({ Image: 'b', HostConfig: { ConsoleSize: null } }).consoleSize, undefined);
});

test('hostOptions() refuses what kiln cannot honour, and never opens a path a client names', () => {
  throwsCode(() => hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['apparmor=unconfined'] } }), 'INVALID_ARGUMENT', /apparmor/);
  throwsCode(() => hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['label=disable'] } }), 'INVALID_ARGUMENT');
  throwsCode(() => hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['seccomp=/etc/shadow'] } }), 'INVALID_ARGUMENT');
  throwsCode(() => hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"NOPE"}'] } }), 'INVALID_ARGUMENT', /defaultAction/);
  throwsCode(() => hostOptions({ Image: 'b', HostConfig: { Memory: -5 } }), 'INVALID_ARGUMENT', /Memory/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { confineHostBinds, hostOptions } from '../../../src/server/host-config.js';
import { rejects, throwsCode } from '../../helpers/assert.js';

test("hostOptions() treats the docker CLI's zero values as unset", () => {
  assert.equal(
    hostOptions({
      Image: 'busybox',
      Hostname: '',
      HostConfig: {
        Privileged: false,
        CapAdd: null,
        CapDrop: null,
        SecurityOpt: null,
        ReadonlyRootfs: false,
        Tmpfs: null,
        Memory: 0,
        NanoCpus: 0,
        PidsLimit: null,
        ExtraHosts: null,
      },
    }),
    {},
  );
  assert.equal(hostOptions({ Image: 'busybox', HostConfig: { PidsLimit: -1 } }), {});
});

test('hostOptions() maps what docker run sets', () => {
  const o = hostOptions({
    Image: 'busybox',
    Hostname: 'box',
    HostConfig: {
      ExtraHosts: ['peer:10.0.0.2'],
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      Tmpfs: { '/run': '', '/scratch': 'size=1m' },
      Memory: 64 << 20,
      NanoCpus: 1_500_000_000,
      PidsLimit: 100,
      SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
    },
  });
  assert.equal(o, {
    hostname: 'box',
    addHosts: ['peer:10.0.0.2'],
    capAdd: ['NET_ADMIN'],
    capDrop: ['ALL'],
    readonlyRootfs: true,
    tmpfs: ['/run', '/scratch:size=1m'],
    limits: { memoryBytes: 64 << 20, cpus: 1.5, pids: 100 },
    seccomp: 'unconfined',
  });
  const p = hostOptions({ Image: 'b', HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'] } });
  assert.equal(p.seccomp, { profile: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] } });
});

test('hostOptions() passes Privileged on', () => {
  assert.equal(hostOptions({ Image: 'b', HostConfig: { Privileged: true } }), { privileged: true });
});

test("hostOptions() takes ConsoleSize as the terminal's starting size; [0, 0] and malformed sizes are no size", () => {
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

test('confineHostBinds(): host sources only inside an allowed root, after symlinks; named volumes pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-binds-'));
  try {
    const allowed = join(dir, 'allowed');
    mkdirSync(join(allowed, 'data'), { recursive: true });
    mkdirSync(join(dir, 'outside'));
    symlinkSync(join(dir, 'outside'), join(allowed, 'out'));
    symlinkSync(join(allowed, 'data'), join(dir, 'in-link'));
    assert.equal(await confineHostBinds(['cache:/c', `${allowed}/data:/d:ro`, `${allowed}/./data/../data:/e`], [allowed]), [
      'cache:/c',
      `${allowed}/data:/d:ro`,
      `${allowed}/data:/e`,
    ]);
    assert.equal(await confineHostBinds(['vol:/v'], []), ['vol:/v']);
    await rejects(() => confineHostBinds(['/:/host'], []), 'ENTITLEMENT_DENIED', /host path \/ is not allowed/);
    await rejects(() => confineHostBinds([`${allowed}/../outside:/x`], [allowed]), 'ENTITLEMENT_DENIED', /outside/);
    // A symlink inside the allowed root that leads out is judged by where it leads.
    await rejects(() => confineHostBinds([`${allowed}/out:/x`], [allowed]), 'ENTITLEMENT_DENIED', /allowed\/out/);
    // A link outside to inside is refused before it is looked at (no probing of the host's paths).
    await rejects(() => confineHostBinds([`${dir}/in-link:/x`], [allowed]), 'ENTITLEMENT_DENIED', /in-link/);
    await rejects(() => confineHostBinds([`${dir}/no-such:/x`], []), 'ENTITLEMENT_DENIED', /no-such/);
    await rejects(() => confineHostBinds([`${allowed}/missing:/x`], [allowed]), 'INVALID_ARGUMENT', /does not exist: .*missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

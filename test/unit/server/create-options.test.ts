/**
 * Each `docker run` option as the docker CLI 28 sends it in the `POST /containers/create` body (recorded from the
 * CLI against a server that logged its requests) → honoured, or refused with an error naming the option.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KilnError } from '../../../src/errors.js';
import { hostOptions, mountsToBinds, refuseUnsupported } from '../../../src/server/host-config.js';
import type { ContainerCreate } from '../../../src/server/backend.js';

/** `docker run busybox true`: the CLI's body with no options. */
const DEFAULTS = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: true,
  AttachStderr: true,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: ['true'],
  Image: 'busybox',
  Volumes: {},
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: {},
  HostConfig: {
    Binds: null,
    ContainerIDFile: '',
    LogConfig: { Type: '', Config: {} },
    NetworkMode: 'default',
    PortBindings: {},
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: '',
    VolumesFrom: null,
    ConsoleSize: [0, 0],
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: '',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: '',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: 0,
    Isolation: '',
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: -1,
    OomKillDisable: false,
    PidsLimit: 0,
    Ulimits: [],
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: null,
    ReadonlyPaths: null,
  },
  NetworkingConfig: {
    EndpointsConfig: {
      default: {
        IPAMConfig: null,
        Links: null,
        Aliases: null,
        MacAddress: '',
        DriverOpts: null,
        GwPriority: 0,
        NetworkID: '',
        EndpointID: '',
        Gateway: '',
        IPAddress: '',
        IPPrefixLen: 0,
        IPv6Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        DNSNames: null,
      },
    },
  },
} as unknown as ContainerCreate;

type Body = Record<string, any>;

const body = (patch: (b: Body) => void = () => {}): ContainerCreate => {
  const b = structuredClone(DEFAULTS) as unknown as Body;
  patch(b);
  return b as unknown as ContainerCreate;
};

/** Only with --network none|host|NAME: the CLI then sends an endpoint under that name instead of "default". */
const endpoint = (b: Body, fields: Body) => Object.assign(b.NetworkingConfig.EndpointsConfig.default, fields);

const REFUSED: Array<[string, (b: Body) => void, RegExp]> = [
  ['-d -i', (b) => Object.assign(b, { AttachStdout: false, AttachStderr: false, OpenStdin: true }), /-i \(--interactive\) with -d/],
  ['--link abc:x', (b) => (b.HostConfig.Links = ['abc:x']), /--link/],
  ['--dns 1.1.1.1', (b) => (b.HostConfig.Dns = ['1.1.1.1']), /--dns/],
  ['--dns-search x', (b) => (b.HostConfig.DnsSearch = ['x']), /--dns-search/],
  ['--dns-option ndots:1', (b) => (b.HostConfig.DnsOptions = ['ndots:1']), /--dns-option/],
  ['--ulimit nofile=10:10', (b) => (b.HostConfig.Ulimits = [{ Name: 'nofile', Hard: 10, Soft: 10 }]), /--ulimit/],
  ['--device /dev/null', (b) => (b.HostConfig.Devices = [{ PathOnHost: '/dev/null', PathInContainer: '/dev/null', CgroupPermissions: 'rwm' }]), /--device/],
  ['--ipc host', (b) => (b.HostConfig.IpcMode = 'host'), /--ipc host/],
  ['--pid host', (b) => (b.HostConfig.PidMode = 'host'), /--pid host/],
  ['--uts host', (b) => (b.HostConfig.UTSMode = 'host'), /--uts host/],
  ['--userns host', (b) => (b.HostConfig.UsernsMode = 'host'), /--userns host/],
  ['--cgroupns host', (b) => (b.HostConfig.CgroupnsMode = 'host'), /--cgroupns host/],
  ['--shm-size 64m', (b) => (b.HostConfig.ShmSize = 67108864), /--shm-size/],
  ['--log-driver none', (b) => (b.HostConfig.LogConfig.Type = 'none'), /--log-driver none/],
  ['--log-opt max-size=1m', (b) => (b.HostConfig.LogConfig.Config = { 'max-size': '1m' }), /--log-opt/],
  ['--stop-timeout 5', (b) => (b.StopTimeout = 5), /--stop-timeout/],
  ['--ip6 fd00::2', (b) => endpoint(b, { IPAMConfig: { IPv6Address: 'fd00::2' } }), /--ip6/],
  ['--mac-address 02:42:ac:11:00:02', (b) => endpoint(b, { MacAddress: '02:42:ac:11:00:02' }), /--mac-address/],
  ['--sysctl net.ipv4.ip_forward=1', (b) => (b.HostConfig.Sysctls = { 'net.ipv4.ip_forward': '1' }), /--sysctl/],
  ['--oom-kill-disable', (b) => (b.HostConfig.OomKillDisable = true), /--oom-kill-disable/],
  ['--oom-score-adj 5', (b) => (b.HostConfig.OomScoreAdj = 5), /--oom-score-adj/],
  ['--memory-swap 100m', (b) => (b.HostConfig.MemorySwap = 104857600), /--memory-swap/],
  ['--memory-reservation 10m', (b) => (b.HostConfig.MemoryReservation = 10485760), /--memory-reservation/],
  ['--memory-swappiness 10', (b) => (b.HostConfig.MemorySwappiness = 10), /--memory-swappiness/],
  ['--cpu-shares 10', (b) => (b.HostConfig.CpuShares = 10), /--cpu-shares/],
  ['--cpu-period 100000', (b) => (b.HostConfig.CpuPeriod = 100000), /--cpu-period/],
  ['--cpu-quota 5000', (b) => (b.HostConfig.CpuQuota = 5000), /--cpu-quota/],
  ['--cpuset-cpus 0', (b) => (b.HostConfig.CpusetCpus = '0'), /--cpuset-cpus/],
  ['--cpuset-mems 0', (b) => (b.HostConfig.CpusetMems = '0'), /--cpuset-mems/],
  ['--cpu-rt-runtime 10', (b) => (b.HostConfig.CpuRealtimeRuntime = 10), /--cpu-rt-runtime/],
  ['--blkio-weight 100', (b) => (b.HostConfig.BlkioWeight = 100), /--blkio-weight/],
  ['--device-read-bps /dev/sda:1mb', (b) => (b.HostConfig.BlkioDeviceReadBps = [{ Path: '/dev/sda', Rate: 1048576 }]), /--device-read-bps/],
  ['--group-add 10', (b) => (b.HostConfig.GroupAdd = ['10']), /--group-add/],
  ['--cgroup-parent x', (b) => (b.HostConfig.CgroupParent = 'x'), /--cgroup-parent/],
  ['--init', (b) => (b.HostConfig.Init = true), /--init/],
  ['-P', (b) => (b.HostConfig.PublishAllPorts = true), /-P/],
  ['--domainname x.com', (b) => (b.Domainname = 'x.com'), /--domainname/],
  ['--device-cgroup-rule', (b) => (b.HostConfig.DeviceCgroupRules = ['c 1:3 mr']), /--device-cgroup-rule/],
  ['--gpus all', (b) => (b.HostConfig.DeviceRequests = [{ Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} }]), /--gpus/],
  ['--annotation a=b', (b) => (b.HostConfig.Annotations = { a: 'b' }), /--annotation/],
  ['--runtime crun', (b) => (b.HostConfig.Runtime = 'crun'), /--runtime crun/],
  ['--volume-driver x', (b) => (b.HostConfig.VolumeDriver = 'x'), /--volume-driver/],
  ['--storage-opt size=1G', (b) => (b.HostConfig.StorageOpt = { size: '1G' }), /--storage-opt/],
  ['--isolation hyperv', (b) => (b.HostConfig.Isolation = 'hyperv'), /--isolation/],
];

for (const [option, patch, message] of REFUSED) {
  test(`docker run ${option} is refused, naming the option`, () => {
    try {
      refuseUnsupported(body(patch));
    } catch (err) {
      assert.ok(err instanceof KilnError);
      assert.match(err.message, message);
      assert.match(err.message, /not supported by kiln serve/);
      return;
    }
    assert.unreachable(`${option} was accepted`);
  });
}

const ACCEPTED: Array<[string, (b: Body) => void]> = [
  ['(no options)', () => {}],
  ['--restart no', (b) => (b.HostConfig.RestartPolicy = { Name: 'no', MaximumRetryCount: 0 })],
  ['--no-healthcheck', (b) => (b.Healthcheck = { Test: ['NONE'] })],
  ['--restart on-failure:3', (b) => (b.HostConfig.RestartPolicy = { Name: 'on-failure', MaximumRetryCount: 3 })],
  ['--restart always', (b) => (b.HostConfig.RestartPolicy.Name = 'always')],
  ['--health-cmd true', (b) => (b.Healthcheck = { Test: ['CMD-SHELL', 'true'] })],
  ['--health-interval 5s', (b) => (b.Healthcheck = { Interval: 5e9 })],
  ['--log-driver json-file', (b) => (b.HostConfig.LogConfig.Type = 'json-file')],
  ['--isolation default', (b) => (b.HostConfig.Isolation = 'default')],
  ['--ipc private', (b) => (b.HostConfig.IpcMode = 'private')],
  ['--stop-signal SIGINT', (b) => (b.StopSignal = 'SIGINT')],
  ['--expose 80', (b) => (b.ExposedPorts = { '80/tcp': {} })],
  ['--cidfile /tmp/cid', (b) => (b.HostConfig.ContainerIDFile = '/tmp/cid')],
  [
    '-p 8080:80',
    (b) => {
      b.HostConfig.PortBindings = { '80/tcp': [{ HostIp: '', HostPort: '8080' }] };
      b.ExposedPorts = { '80/tcp': {} };
    },
  ],
  [
    '--network none',
    (b) => {
      b.HostConfig.NetworkMode = 'none';
      b.NetworkingConfig.EndpointsConfig = { none: { ...b.NetworkingConfig.EndpointsConfig.default } };
    },
  ],
  // Honoured on user-defined networks (the network and the address are checked at create: src/containers/container-networks.ts).
  [
    '--network mynet --network-alias x',
    (b) => {
      b.HostConfig.NetworkMode = 'mynet';
      b.NetworkingConfig.EndpointsConfig = { mynet: { ...b.NetworkingConfig.EndpointsConfig.default, Aliases: ['x'] } };
    },
  ],
  ['--ip 10.0.0.2', (b) => endpoint(b, { IPAMConfig: { IPv4Address: '10.0.0.2' } })],
  ['-v /h:/data:ro', (b) => (b.HostConfig.Binds = ['/h:/data:ro'])],
  ['-v /data', (b) => (b.Volumes = { '/data': {} })],
  ['--mount type=volume,dst=/data', (b) => (b.HostConfig.Mounts = [{ Type: 'volume', Target: '/data' }])],
  ['--mount type=bind,src=/h,dst=/data,readonly', (b) => (b.HostConfig.Mounts = [{ Type: 'bind', Source: '/h', Target: '/data', ReadOnly: true }])],
  [
    '-h h -w /tmp -u 1 -e A=1 --entrypoint sh -i -t --rm',
    (b) =>
      Object.assign(b, {
        Hostname: 'h',
        WorkingDir: '/tmp',
        User: '1',
        Env: ['A=1'],
        Entrypoint: ['sh'],
        AttachStdin: true,
        OpenStdin: true,
        StdinOnce: true,
        Tty: true,
      }),
  ],
  [
    '--read-only --tmpfs /t --memory 10m --cpus 1 --pids-limit 10 --add-host a:1.2.3.4',
    (b) =>
      Object.assign(b.HostConfig, { ReadonlyRootfs: true, Tmpfs: { '/t': '' }, Memory: 10485760, NanoCpus: 1e9, PidsLimit: 10, ExtraHosts: ['a:1.2.3.4'] }),
  ],
];

for (const [option, patch] of ACCEPTED) {
  test(`docker run ${option} is accepted`, () => {
    refuseUnsupported(body(patch));
  });
}

test('mountsToBinds(): --mount and -v /data become binds, named volumes and anonymous volumes', () => {
  const b = body((x) => {
    x.HostConfig.Binds = ['/h:/a'];
    x.HostConfig.Mounts = [
      { Type: 'bind', Source: '/h', Target: '/b', ReadOnly: true },
      { Type: 'volume', Source: 'v', Target: '/c' },
      { Type: 'volume', Target: '/d' },
      { Type: 'tmpfs', Target: '/t' },
    ];
    x.Volumes = { '/e': {}, '/a': {} };
  });
  mountsToBinds(b);
  assert.equal(b.HostConfig?.Binds, ['/h:/a', '/h:/b:ro', 'v:/c', '/d', '/e']);
  assert.equal(b.HostConfig?.Tmpfs, { '/t': '' });
  assert.equal((b.HostConfig as Record<string, unknown>).Mounts, undefined);
});

test('mountsToBinds(): mount options kiln does not apply are refused, naming them', () => {
  const refused = (m: Body, re: RegExp) => {
    try {
      mountsToBinds(body((x) => (x.HostConfig.Mounts = [m])));
    } catch (err) {
      assert.match((err as Error).message, re);
      return;
    }
    assert.unreachable(JSON.stringify(m));
  };
  refused({ Type: 'bind', Source: '/h', Target: '/b', BindOptions: { Propagation: 'shared' } }, /--mount type=bind.*bind-propagation/);
  refused({ Type: 'volume', Target: '/b', VolumeOptions: { DriverConfig: { Name: 'x' } } }, /--mount type=volume,dst=\/b,volume-driver=x is not supported/);
  refused({ Type: 'volume', Target: '/b', VolumeOptions: { Subpath: 'x' } }, /VolumeOptions.Subpath/);
  refused({ Type: 'tmpfs', Target: '/b', TmpfsOptions: { Options: [['exec']] } }, /TmpfsOptions.Options/);
  refused({ Type: 'volume', Target: '/b', Consistency: 'cached' }, /Consistency/);
  refused({ Type: 'npipe', Target: '/b' }, /--mount type=npipe/);
  refused({ Type: 'bind', Source: 'rel', Target: '/b' }, /absolute host path/);
});

test('RestartPolicy and Healthcheck become the container options; `no` is no policy', () => {
  const o = hostOptions(
    body((b) => {
      b.HostConfig.RestartPolicy = { Name: 'on-failure', MaximumRetryCount: 2 };
      b.Healthcheck = { Test: ['CMD-SHELL', 'test -f /ok'], Interval: 1e9, Retries: 2 };
    }),
  );
  assert.equal(o.restartPolicy, { name: 'on-failure', maximumRetryCount: 2 });
  assert.equal(o.healthcheck, { test: ['CMD-SHELL', 'test -f /ok'], intervalNs: 1e9, retries: 2 });
  assert.is(hostOptions(body()).restartPolicy, undefined);
  assert.throws(() => hostOptions(body((b) => (b.HostConfig.RestartPolicy = { Name: 'always', MaximumRetryCount: 1 }))), /on-failure/);
  assert.throws(() => hostOptions(body((b) => (b.Healthcheck = { Interval: 10 }))), /--health-interval/);
});

test('mountsToBinds(): volume-nocopy, volume-label, volume-opt and tmpfs-size are honoured; tmpfs-mode is refused', () => {
  const b = body((x) => {
    x.HostConfig.Mounts = [
      { Type: 'volume', Source: 'v', Target: '/c', ReadOnly: true, VolumeOptions: { NoCopy: true } },
      {
        Type: 'volume',
        Source: 'w',
        Target: '/d',
        VolumeOptions: { Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } },
      },
      { Type: 'volume', Target: '/e', VolumeOptions: { Labels: { k: '' } } },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } },
    ];
  });
  const pre = mountsToBinds(b);
  const binds = b.HostConfig?.Binds ?? [];
  assert.equal(binds.slice(0, 2), ['v:/c:ro,nocopy', 'w:/d']);
  assert.match(binds[2]!, /^[0-9a-f]{64}:\/e$/);
  assert.equal(pre, [
    { name: 'w', anonymous: false, labels: { a: 'b' }, driverOpts: { type: 'tmpfs', device: 'tmpfs' } },
    { name: binds[2]!.split(':')[0]!, anonymous: true, labels: { k: '' } },
  ]);
  assert.equal(b.HostConfig?.Tmpfs, { '/t': 'size=1048576' });
  assert.throws(
    () => mountsToBinds(body((x) => (x.HostConfig.Mounts = [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { Mode: 0o1770 } }]))),
    /tmpfs-mode=1016 is not supported/,
  );
});

test('refuseUnsupported(): --volume-driver local and --volumes-from pass; another volume driver is refused', () => {
  refuseUnsupported(body((b) => ((b.HostConfig.VolumeDriver = 'local'), (b.HostConfig.VolumesFrom = ['abc:ro']))));
  assert.throws(() => refuseUnsupported(body((b) => (b.HostConfig.VolumeDriver = 'x'))), /--volume-driver x/);
});

test.run();

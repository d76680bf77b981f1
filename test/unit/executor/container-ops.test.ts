/** The pure parts of docker top, stats, update and rename (src/containers/{top,stats,update,rename}.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { totalmem } from 'node:os';
import { parsePsArgs, parsePsOutput } from '../../../src/containers/top.js';
import { emptyStats, parseNetDev, systemCpuUsage, toStats, withPrevious } from '../../../src/containers/stats.js';
import { checkRestartPolicy, parseUpdate, runcUpdateArgs } from '../../../src/containers/update.js';
import { checkContainerName } from '../../../src/containers/rename.js';
import { signalNumber } from '../../../src/containers/kill.js';
import { throwsCode } from '../../helpers/assert.js';

test('parsePsArgs() defaults to -ef, splits on spaces and refuses words that are not ps options', () => {
  assert.equal(parsePsArgs(undefined), ['-ef']);
  assert.equal(parsePsArgs(''), ['-ef']);
  assert.equal(parsePsArgs('-o pid,comm'), ['-o', 'pid,comm']);
  assert.equal(parsePsArgs('aux'), ['aux']);
  throwsCode(() => parsePsArgs('-o pid /etc/passwd'), 'INVALID_ARGUMENT', /not a ps option/);
  throwsCode(() => parsePsArgs('$(id)'), 'INVALID_ARGUMENT');
  throwsCode(() => parsePsArgs('pid,comm'), 'INVALID_ARGUMENT');
  // dockerd's rule: a column renamed to PID must be the pid column.
  throwsCode(() => parsePsArgs('-o user=PID'), 'INVALID_ARGUMENT', /specifying "user=PID" is not allowed/);
  assert.equal(parsePsArgs('-o pid=PID'), ['-o', 'pid=PID']);
});

test("parsePsOutput() keeps the container's rows (and their thread rows), the last column with its spaces", () => {
  const out = [
    'UID          PID    PPID  C STIME TTY          TIME CMD',
    'root           1       0  0 10:00 ?        00:00:01 /sbin/init',
    'root         100      90  0 10:01 ?        00:00:00 sh -c sleep 100',
    '-              -       -  0 10:01 ?        00:00:00 thread-of-100',
    'root         200     100  0 10:01 ?        00:00:00 sleep 100',
    '-              -       -  0 10:01 ?        00:00:00 thread-of-init?',
    '',
  ].join('\n');
  const r = parsePsOutput(out, new Set([100, 200]));
  assert.equal(r.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  assert.equal(
    r.Processes.map((p) => p.at(-1)),
    ['sh -c sleep 100', 'thread-of-100', 'sleep 100', 'thread-of-init?'],
  );
  assert.is(r.Processes[0]!.length, 8);
  throwsCode(() => parsePsOutput('USER COMMAND\nroot sh\n', new Set([1])), 'INVALID_ARGUMENT', /PID field/);
});

test('systemCpuUsage() sums the first seven fields of /proc/stat in nanoseconds (USER_HZ 100)', () => {
  assert.is(systemCpuUsage('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1\n'), 28 * 1e7);
  assert.is(systemCpuUsage(''), 0);
});

test('parseNetDev() reads per-interface counters and leaves the loopback out', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0',
    '  eth0:     736       8    1    2    0     0          0         0      516       6    3    4    0     0       0          0',
  ].join('\n');
  assert.equal(parseNetDev(text), {
    eth0: { rx_bytes: 736, rx_packets: 8, rx_errors: 1, rx_dropped: 2, tx_bytes: 516, tx_packets: 6, tx_errors: 3, tx_dropped: 4 },
  });
});

test("toStats() maps runc's stats to dockerd's StatsJSON: no memory limit reads as the host's memory", () => {
  const rec = { id: 'abc', name: 'web' };
  const d = {
    cpu: { usage: { total: 500, percpu: [200, 300], kernel: 100, user: 400 }, throttling: { periods: 3, throttledPeriods: 1, throttledTime: 9 } },
    memory: { usage: { usage: 4096, max: 8192, failcnt: 0, limit: 9223372036854771712 }, raw: { total_inactive_file: 1024 } },
    pids: { current: 2 },
    blkio: { ioServiceBytesRecursive: [{ major: 8, minor: 0, op: 'Read', value: 512 }] },
  };
  const s = toStats(rec, d, { read: new Date('2026-01-01T00:00:00Z'), systemCpu: 1e12, networks: {} });
  assert.is(s.name, '/web');
  assert.is(s.read, '2026-01-01T00:00:00.000Z');
  assert.is(s.preread, '0001-01-01T00:00:00Z');
  assert.equal(s.cpu_stats.cpu_usage, { total_usage: 500, percpu_usage: [200, 300], usage_in_kernelmode: 100, usage_in_usermode: 400 });
  assert.is(s.cpu_stats.online_cpus, 2);
  assert.equal(s.cpu_stats.throttling_data, { periods: 3, throttled_periods: 1, throttled_time: 9 });
  assert.is(s.memory_stats.limit, totalmem());
  assert.equal(s.memory_stats.stats, { total_inactive_file: 1024 });
  assert.equal(s.pids_stats, { current: 2 });
  assert.equal(s.blkio_stats.io_service_bytes_recursive, [{ major: 8, minor: 0, op: 'Read', value: 512 }]);
  assert.is(s.blkio_stats.io_serviced_recursive, null);
  const limited = toStats(rec, { memory: { usage: { usage: 1, limit: 64 << 20 } }, pids: { current: 1, limit: 50 } }, { read: new Date(), systemCpu: 0 });
  assert.is(limited.memory_stats.limit, 64 << 20);
  assert.equal(limited.pids_stats, { current: 1, limit: 50 });
  assert.is(limited.networks, undefined);
  const next = withPrevious(toStats(rec, d, { read: new Date('2026-01-01T00:00:01Z'), systemCpu: 2e12 }), s);
  assert.is(next.preread, s.read);
  assert.is(next.precpu_stats.system_cpu_usage, 1e12);
});

test("emptyStats() is dockerd's answer for a stopped container: name and id, zero times", () => {
  const s = emptyStats({ id: 'abc', name: 'web' });
  assert.is(s.id, 'abc');
  assert.is(s.read, '0001-01-01T00:00:00Z');
  assert.is(s.cpu_stats.cpu_usage.total_usage, 0);
  assert.equal(s.memory_stats, {});
});

test('parseUpdate() takes memory, cpus, pids and restart policy; zero values are unchanged', () => {
  // What `docker update --memory 128m` sends: every resource field, zero where not given.
  const body = {
    BlkioWeight: 0,
    CpuShares: 0,
    CpusetCpus: '',
    Memory: 128 << 20,
    MemorySwap: 0,
    NanoCpus: 0,
    Devices: null,
    Ulimits: null,
    RestartPolicy: { Name: '', MaximumRetryCount: 0 },
  };
  assert.equal(parseUpdate(body), { memoryBytes: 128 << 20 });
  assert.equal(parseUpdate({ NanoCpus: 5e8, PidsLimit: 50 }), { cpus: 0.5, pids: 50 });
  assert.equal(parseUpdate({ PidsLimit: -1 }), { pids: null });
  assert.equal(parseUpdate({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } }), { restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } });
  assert.equal(parseUpdate({ MemorySwap: -1 }), {});
  assert.equal(runcUpdateArgs({ memoryBytes: 1 << 27, cpus: 0.5, pids: null }), [
    '--memory',
    String(1 << 27),
    '--cpu-period',
    '100000',
    '--cpu-quota',
    '50000',
    '--pids-limit',
    '-1',
  ]);
});

test('parseUpdate() refuses what kiln cannot apply, naming the option', () => {
  throwsCode(() => parseUpdate({ CpuShares: 512 }), 'NOT_IMPLEMENTED', /--cpu-shares/);
  throwsCode(() => parseUpdate({ CpusetCpus: '0' }), 'NOT_IMPLEMENTED', /--cpuset-cpus/);
  throwsCode(() => parseUpdate({ MemorySwap: 1 << 30 }), 'NOT_IMPLEMENTED', /--memory-swap/);
  throwsCode(() => parseUpdate({ Memory: 1024 }), 'INVALID_ARGUMENT', /minimum memory/);
  throwsCode(() => parseUpdate({ NanoCpus: 1e12 }), 'INVALID_ARGUMENT', /--cpus/);
  throwsCode(() => parseUpdate({ Bogus: 1 }), 'INVALID_ARGUMENT', /unknown field "Bogus"/);
  throwsCode(() => checkRestartPolicy({ Name: 'sometimes' }), 'INVALID_ARGUMENT', /invalid restart policy/);
  throwsCode(() => checkRestartPolicy({ Name: 'always', MaximumRetryCount: 2 }), 'INVALID_ARGUMENT', /cannot be used with restart policy 'always'/);
  throwsCode(() => checkRestartPolicy({ Name: 'on-failure', MaximumRetryCount: -1 }), 'INVALID_ARGUMENT', /negative/);
});

test("checkContainerName() takes dockerd's names (a leading slash allowed) and refuses others", () => {
  assert.is(checkContainerName('web-1.a_b'), 'web-1.a_b');
  assert.is(checkContainerName('/web'), 'web');
  for (const bad of ['a', 'bad name', '-x', '../x', 'x/y', '']) throwsCode(() => checkContainerName(bad), 'INVALID_ARGUMENT', /Invalid container name/);
});

test('signalNumber() reads names with or without SIG, numbers and SIGRTMIN+n', () => {
  assert.is(signalNumber('KILL'), 9);
  assert.is(signalNumber('sigterm'), 15);
  assert.is(signalNumber('1'), 1);
  assert.is(signalNumber('SIGRTMIN+3'), 37);
  throwsCode(() => signalNumber('SIGNOPE'), 'INVALID_ARGUMENT', /invalid signal/);
  throwsCode(() => signalNumber('99'), 'INVALID_ARGUMENT');
});

test.run();

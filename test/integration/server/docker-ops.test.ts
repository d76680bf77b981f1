/**
 * Container operations through `kiln serve` with the real docker CLI: top, stats, pause/unpause, update, rename,
 * kill, and `docker events` (a window with filters, and the live stream).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { startServe, docker, type Served } from './serve-helper.js';
import { waitFor } from '../../helpers/wait.js';

let s: Served;
const started: string[] = [];

test.before(async () => {
  s = await startServe();
});

test.after(async () => {
  for (const id of started) await docker(s, ['rm', '-f', id]);
  await s?.stop();
});

/** A container counting in /tmp/n five times a second. */
async function counter(name: string, extra: string[] = []): Promise<string> {
  const r = await docker(s, [
    'run',
    '-d',
    '--name',
    name,
    ...extra,
    'busybox',
    'sh',
    '-c',
    'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done',
  ]);
  assert.is(r.code, 0, r.stderr + s.logs());
  const id = r.stdout.trim();
  started.push(id);
  return id;
}

async function count(name: string): Promise<number> {
  const r = await docker(s, ['exec', name, 'cat', '/tmp/n']);
  assert.is(r.code, 0, r.stderr);
  return Number(r.stdout.trim());
}

test("docker top lists the container's processes with ps's columns; ps options pass through; a stopped container is an error", async () => {
  await counter('ops-top');
  const r = await docker(s, ['top', 'ops-top']);
  assert.is(r.code, 0, r.stderr);
  const [head, ...rows] = r.stdout.trim().split('\n');
  assert.equal(head!.trim().split(/\s+/), ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  assert.ok(
    rows.some((l) => l.includes('sh -c i=0')),
    r.stdout,
  );
  // Only the container's processes: not this test's node, not the server.
  assert.not.ok(
    rows.some((l) => /node|kiln/.test(l)),
    r.stdout,
  );
  const o = await docker(s, ['top', 'ops-top', '-o', 'pid,comm']);
  assert.is(o.code, 0, o.stderr);
  assert.match(o.stdout, /^PID\s+COMMAND\n/);
  assert.match(o.stdout, /\d+\s+sh\n/);
  const bad = await docker(s, ['top', 'ops-top', '-o', 'pid', '/etc/passwd']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /not a ps option/);
  const stopped = await docker(s, ['create', '--name', 'ops-top-stopped', 'busybox', 'true']);
  started.push(stopped.stdout.trim());
  const t = await docker(s, ['top', 'ops-top-stopped']);
  assert.is.not(t.code, 0);
  assert.match(t.stderr, /is not running/);
});

test('docker stats --no-stream prints CPU %, memory usage against a --memory limit, network and block I/O, pids', async () => {
  await counter('ops-stats', ['--memory', '64m']);
  const r = await docker(s, ['stats', '--no-stream', '--format', '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}', 'ops-stats']);
  assert.is(r.code, 0, r.stderr);
  const [name, cpu, mem, net, block, pids] = r.stdout.trim().split('|');
  assert.is(name, 'ops-stats');
  assert.match(cpu!, /^\d+\.\d+%$/);
  const [usage, limit] = mem!.split(' / ');
  assert.match(usage!, /^\d+(\.\d+)?([KMG]i)?B$/);
  assert.is(limit, '64MiB');
  assert.match(net!, /^\d+(\.\d+)?[kMG]?B \/ \d+(\.\d+)?[kMG]?B$/);
  assert.match(block!, /^\d+(\.\d+)?[kMG]?B \/ \d+(\.\d+)?[kMG]?B$/);
  assert.ok(Number(pids) >= 1, pids);
  // A stopped container answers zeroed stats, as dockerd.
  const c = await docker(s, ['create', '--name', 'ops-stats-stopped', 'busybox', 'true']);
  started.push(c.stdout.trim());
  const z = await docker(s, ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'ops-stats-stopped']);
  assert.is(z.code, 0, z.stderr);
  assert.is(z.stdout.trim(), 'ops-stats-stopped 0');
});

test('GET /containers/{id}/stats?stream=true sends a sample a second, each after the first with the previous as precpu', async () => {
  await counter('ops-stream');
  const lines: Array<{
    read: string;
    preread: string;
    precpu_stats: { cpu_usage: { total_usage: number } };
    cpu_stats: { cpu_usage: { total_usage: number } };
  }> = [];
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: s.port, path: '/containers/ops-stream/stats?stream=true' }, (res) => {
      assert.is(res.statusCode, 200);
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          if (lines.length === 3) {
            req.destroy();
            resolve();
          }
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (err) => (lines.length >= 3 ? resolve() : reject(err)));
    setTimeout(() => reject(new Error(`only ${lines.length} samples in 15 s`)), 15_000).unref();
  });
  assert.ok(Date.now() - started >= 1500, 'samples are a second apart');
  assert.is(lines[0]!.preread, '0001-01-01T00:00:00Z');
  assert.is(lines[1]!.preread, lines[0]!.read);
  assert.is(lines[2]!.precpu_stats.cpu_usage.total_usage, lines[1]!.cpu_stats.cpu_usage.total_usage);
  assert.ok(lines[2]!.cpu_stats.cpu_usage.total_usage >= lines[1]!.cpu_stats.cpu_usage.total_usage);
});

test('docker pause freezes the container (its counter stops), shows Paused, refuses exec; unpause resumes it', async () => {
  await counter('ops-pause');
  await waitFor('the counter to run', async () => (await count('ops-pause')) > 1);
  const p = await docker(s, ['pause', 'ops-pause']);
  assert.is(p.code, 0, p.stderr);
  const state = await docker(s, ['inspect', '-f', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'ops-pause']);
  assert.is(state.stdout.trim(), 'paused true true');
  const ps = await docker(s, ['ps', '--filter', 'name=ops-pause', '--format', '{{.Status}}']);
  assert.match(ps.stdout, /^Up.*\(Paused\)$/m);
  const e = await docker(s, ['exec', 'ops-pause', 'true']);
  assert.is.not(e.code, 0);
  assert.match(e.stderr, /is paused/);
  const again = await docker(s, ['pause', 'ops-pause']);
  assert.is.not(again.code, 0);
  // top still lists a frozen container's processes (runc reads its cgroup).
  const frozen = await docker(s, ['top', 'ops-pause', '-o', 'pid,stat,comm']);
  assert.is(frozen.code, 0, frozen.stderr);
  assert.ok(frozen.stdout.trim().split('\n').length >= 2, frozen.stdout);
  const u = await docker(s, ['unpause', 'ops-pause']);
  assert.is(u.code, 0, u.stderr);
  const before = await count('ops-pause');
  await waitFor('the counter to advance after unpause', async () => (await count('ops-pause')) > before);
  // Paused, then stopped: stop thaws it first, so the signal is acted on.
  assert.is((await docker(s, ['pause', 'ops-pause'])).code, 0);
  const st = await docker(s, ['stop', '-t', '5', 'ops-pause']);
  assert.is(st.code, 0, st.stderr);
  const after = await docker(s, ['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'ops-pause']);
  assert.is(after.stdout.trim(), 'exited false');
  const np = await docker(s, ['pause', 'ops-pause']);
  assert.is.not(np.code, 0);
  assert.match(np.stderr, /is not running/);
});

test('the counter really stops while paused', async () => {
  await counter('ops-freeze');
  await waitFor('the counter to run', async () => (await count('ops-freeze')) > 1);
  // exec is refused while paused, so the counter is read just before the pause and just after the unpause. It
  // ticks at most five times a second while it runs: across 3 s frozen it advances at most what the time outside
  // the freeze (the CLI calls around it) allows, and without the freeze it would have advanced 15 more.
  const t0 = Date.now();
  const a = await count('ops-freeze');
  assert.is((await docker(s, ['pause', 'ops-freeze'])).code, 0);
  await new Promise((r) => setTimeout(r, 3000));
  assert.is((await docker(s, ['unpause', 'ops-freeze'])).code, 0);
  const b = await count('ops-freeze');
  const running = Date.now() - t0 - 3000;
  assert.ok(b - a <= Math.ceil(running / 200) + 1, `counter advanced from ${a} to ${b}; it ran at most ${running} ms outside the pause`);
});

test('docker update changes the memory limit of a running container (stats and inspect show it), refuses what kiln cannot apply', async () => {
  await counter('ops-update', ['--memory', '64m']);
  const u = await docker(s, ['update', '--memory', '128m', '--cpus', '0.5', '--pids-limit', '50', '--restart', 'on-failure:3', 'ops-update']);
  assert.is(u.code, 0, u.stderr);
  const r = await docker(s, ['stats', '--no-stream', '--format', '{{.MemUsage}}', 'ops-update']);
  assert.match(r.stdout, / \/ 128MiB/);
  const i = await docker(s, [
    'inspect',
    '-f',
    '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}',
    'ops-update',
  ]);
  assert.is(i.stdout.trim(), `${128 << 20} 500000000 50 on-failure:3`);
  const bad = await docker(s, ['update', '--cpu-shares', '512', 'ops-update']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /--cpu-shares is not supported/);
  const badPolicy = await docker(s, ['update', '--restart', 'always:3', 'ops-update']);
  assert.is.not(badPolicy.code, 0);
  // A restart keeps the new limit.
  assert.is((await docker(s, ['restart', '-t', '0', 'ops-update'])).code, 0);
  const again = await docker(s, ['stats', '--no-stream', '--format', '{{.MemUsage}}', 'ops-update']);
  assert.match(again.stdout, / \/ 128MiB/);
});

test('docker rename: the new name finds the container, a taken name is a conflict, an invalid one refused', async () => {
  const id = await counter('ops-rename-a');
  await counter('ops-rename-b');
  const r = await docker(s, ['rename', 'ops-rename-a', 'ops-renamed']);
  assert.is(r.code, 0, r.stderr);
  const i = await docker(s, ['inspect', '-f', '{{.Id}} {{.Name}}', 'ops-renamed']);
  assert.is(i.stdout.trim(), `${id} /ops-renamed`);
  const taken = await docker(s, ['rename', 'ops-renamed', 'ops-rename-b']);
  assert.is.not(taken.code, 0);
  assert.match(taken.stderr, /already in use/);
  const bad = await docker(s, ['rename', 'ops-renamed', 'no good']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /Invalid container name/);
});

test('docker kill -s sends the signal; a stopped container is a conflict', async () => {
  const r = await docker(s, ['run', '-d', '--name', 'ops-kill', 'busybox', 'sh', '-c', 'trap "exit 42" USR1; while true; do sleep 0.1; done']);
  assert.is(r.code, 0, r.stderr);
  started.push(r.stdout.trim());
  await waitFor('the trap to be set', async () => (await docker(s, ['top', 'ops-kill', '-o', 'pid,comm'])).stdout.includes('sleep'));
  const k = await docker(s, ['kill', '-s', 'USR1', 'ops-kill']);
  assert.is(k.code, 0, k.stderr);
  const w = await docker(s, ['wait', 'ops-kill']);
  assert.is(w.stdout.trim(), '42');
  const again = await docker(s, ['kill', 'ops-kill']);
  assert.is.not(again.code, 0);
  assert.match(again.stderr, /is not running/);
});

test('docker events --since --until shows a container life (create, start, die with exitCode, destroy) with filters', async () => {
  const since = (Date.now() / 1000).toFixed(3);
  const r = await docker(s, ['run', '--rm', '--name', 'ops-ev', '--label', 'ops=events', 'busybox', 'sh', '-c', 'exit 3']);
  assert.is(r.code, 3, r.stderr);
  await new Promise((res) => setTimeout(res, 300)); // the --rm removal is recorded just after the exit
  const until = (Date.now() / 1000 + 0.1).toFixed(3);
  const all = await docker(s, [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    'container=ops-ev',
    '--format',
    '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}',
  ]);
  assert.is(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  for (const want of ['container create ops-ev', 'container start ops-ev', 'container die ops-ev', 'container destroy ops-ev']) {
    assert.ok(
      lines.some((l) => l.trim() === want),
      `${want} in:\n${all.stdout}`,
    );
  }
  const order = ['create', 'start', 'die', 'destroy'].map((a) => lines.findIndex((l) => l.split(' ')[1] === a));
  assert.equal(
    [...order].sort((x, y) => x - y),
    order,
  );
  const die = await docker(s, [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    'event=die',
    '--filter',
    'container=ops-ev',
    '--format',
    '{{index .Actor.Attributes "exitCode"}}',
  ]);
  assert.is(die.stdout.trim(), '3');
  const starts = await docker(s, [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    'event=start',
    '--filter',
    'label=ops=events',
    '--format',
    '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}',
  ]);
  assert.is(starts.stdout.trim(), 'start ops-ev busybox');
  const none = await docker(s, ['events', '--since', since, '--until', until, '--filter', 'label=ops=other']);
  assert.is(none.stdout.trim(), '');
  const bad = await docker(s, ['events', '--since', since, '--until', until, '--filter', 'bogus=1']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'bogus'/);
});

test('docker exec is reported: exec_create and exec_start with the command, exec_die with its exit code', async () => {
  await counter('ops-exec');
  const since = (Date.now() / 1000).toFixed(3);
  assert.is((await docker(s, ['exec', 'ops-exec', 'sh', '-c', 'exit 5'])).code, 5);
  const until = (Date.now() / 1000 + 0.1).toFixed(3);
  const r = await docker(s, [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    'container=ops-exec',
    '--format',
    '{{.Action}}|{{index .Actor.Attributes "exitCode"}}',
  ]);
  assert.equal(r.stdout.trim().split('\n'), ['exec_create: sh -c exit 5|', 'exec_start: sh -c exit 5|', 'exec_die|5']);
  // As dockerd: event=exec_start bare matches the action with its command.
  const f = await docker(s, ['events', '--since', since, '--until', until, '--filter', 'event=exec_start', '--format', '{{.Action}}']);
  assert.is(f.stdout.trim(), 'exec_start: sh -c exit 5');
});

test('docker events streams a new event live', async () => {
  const child = spawn(
    'docker',
    ['events', '--filter', 'event=create', '--filter', 'container=ops-live', '--format', '{{.Action}} {{.Actor.Attributes.name}}'],
    {
      env: { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: s.dockerConfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    await new Promise((r) => setTimeout(r, 500)); // the stream is open (its headers came) before the event
    const c = await docker(s, ['create', '--name', 'ops-live', 'busybox', 'true']);
    assert.is(c.code, 0, c.stderr);
    started.push(c.stdout.trim());
    await waitFor('the live create event', () => out.includes('create ops-live'), 10_000);
  } finally {
    child.kill('SIGKILL');
  }
});

test('docker container prune, image prune and builder prune answer as dockerd', async () => {
  const c = await docker(s, ['create', '--name', 'ops-prune', 'busybox', 'true']);
  const id = c.stdout.trim();
  const p = await docker(s, ['container', 'prune', '-f']);
  assert.is(p.code, 0, p.stderr);
  assert.match(p.stdout, id);
  assert.match(p.stdout, /Total reclaimed space/);
  for (const args of [
    ['image', 'prune', '-f'],
    ['builder', 'prune', '-f'],
    ['builder', 'prune', '-f', '--filter', 'until=24h'],
    ['builder', 'prune', '-f', '--keep-storage', '1GB'],
  ]) {
    const r = await docker(s, args);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /Total reclaimed space/);
  }
  const refused = await docker(s, ['builder', 'prune', '-f', '--filter', 'type=regular']);
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /--filter type is not supported by kiln serve/);
});

test('docker system prune -f: stopped containers and unused networks go; a running container, its network and images in use stay', async () => {
  for (const n of ['ops-sys-used', 'ops-sys-unused']) assert.is((await docker(s, ['network', 'create', n])).code, 0);
  await counter('ops-sys-running', ['--network', 'ops-sys-used']);
  const stopped = (await docker(s, ['create', '--name', 'ops-sys-stopped', 'busybox', 'true'])).stdout.trim();
  const r = await docker(s, ['system', 'prune', '-f']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, stopped);
  assert.match(r.stdout, /Deleted Networks:\nops-sys-unused/);
  assert.match(r.stdout, /Total reclaimed space/);
  const names = (await docker(s, ['ps', '-a', '--format', '{{.Names}}'])).stdout;
  assert.match(names, 'ops-sys-running');
  assert.not.match(names, 'ops-sys-stopped');
  const nets = (await docker(s, ['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
  assert.ok(nets.includes('ops-sys-used') && !nets.includes('ops-sys-unused'), nets.join(' '));
  assert.is((await docker(s, ['image', 'inspect', 'busybox'])).code, 0);
  assert.is((await docker(s, ['rm', '-f', 'ops-sys-running'])).code, 0);
  assert.is((await docker(s, ['network', 'rm', 'ops-sys-used'])).code, 0);
});

test.run();

/** `kiln run` through the CLI on a busybox image from the store: Docker's flags, run rules and bad input. */
import { test } from 'uvu';
import { existsSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoot } from '../../../src/cache/root.js';
import { cleanupStale } from '../../../src/sandbox/cleanup.js';
import { mountsUnder } from '../../../src/sandbox/mount.js';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';
const run = (args: string[], input?: string) => kiln(['run', ...args], { root, input });

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-run-'));
  root = join(dir, 'root');
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
  // An image with ENTRYPOINT, CMD, WORKDIR, USER, ENV and VOLUME, on busybox's layers.
  const store = await openRoot(root);
  const base = await store.images.resolve('busybox');
  await store.images.writeImage({
    config: {
      ...base.config,
      config: {
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello'],
        Entrypoint: ['echo', 'ep'],
        Cmd: ['default', 'cmd'],
        WorkingDir: '/srv',
        User: 'kiln',
        Volumes: { '/data': {} },
      },
    },
    layers: base.manifest.layers,
    tags: ['configured:latest'],
  });
  await store.close();
});

test.after(async () => {
  await cleanupStale(root);
  await rm(dir, { recursive: true, force: true });
});

async function nothingLeft() {
  const containers = await readdir(join(root, 'containers')).catch(() => [] as string[]);
  assert.equal(containers, [], 'no container directories');
  assert.equal(await mountsUnder(root), [], 'no mounts');
}

test('kiln run --rm passes output and the exit code through and removes the container', async () => {
  const r = await run(['--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.is(r.code, 3);
  assert.is(r.stdout, 'out\n');
  assert.match(r.stderr, /err/);
  await nothingLeft();
});

test('kiln run -t without a terminal of its own (a script, CI) still gives the process one', async () => {
  // stdin and stdout are pipes here: the tty shim relays the container's terminal, as docker run -t does.
  const r = await run(['--rm', '-t', 'busybox', 'sh', '-c', 'tty; echo to-stderr >&2; exit 6']);
  assert.is(r.code, 6, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r\nto-stderr\r\n$/);
  const i = await run(['--rm', '-i', '-t', 'busybox', 'sh', '-c', 'read x; echo "got $x"'], 'typed\n');
  assert.is(i.code, 0, i.stderr);
  assert.match(i.stdout, /got typed\r\n/);
});

test('--privileged: mount works, every host capability and device, nothing masked; without it none of that', async () => {
  const probe = 'mount -t tmpfs none /tmp && echo mounted; grep CapEff /proc/self/status; ls /dev/loop-control 2>&1; grep -c . /proc/timer_list';
  const p = await run(['--rm', '--privileged', 'busybox', 'sh', '-c', probe]);
  assert.is(p.code, 0, p.stderr);
  assert.match(p.stdout, /^mounted$/m);
  const eff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(p.stdout)![1]}`);
  assert.ok((eff & (1n << 21n)) !== 0n, 'CAP_SYS_ADMIN');
  if (existsSync('/dev/loop-control')) assert.match(p.stdout, /^\/dev\/loop-control$/m);
  assert.match(p.stdout, /^[1-9]\d*$/m, '/proc/timer_list is not masked');
  const u = await run(['--rm', 'busybox', 'sh', '-c', probe]);
  assert.not.match(u.stdout, /^mounted$/m);
  assert.match(u.stdout, /CapEff:\s+00000000a80425fb/);
  assert.match(u.stdout, /loop-control: No such file/);
});

test('flags after the image belong to the command', async () => {
  const r = await run(['--rm', 'busybox', 'sh', '-c', 'echo "$@"', 'x', '-p', '80', '-d']);
  assert.is(r.stdout, '-p 80 -d\n');
});

test("ENTRYPOINT and CMD follow Docker's rules, with the image's WORKDIR, USER and ENV", async () => {
  assert.is((await run(['--rm', 'configured'])).stdout, 'ep default cmd\n');
  assert.is((await run(['--rm', 'configured', 'given'])).stdout, 'ep given\n');
  const over = await run(['--rm', '--entrypoint', 'sh', 'configured', '-c', 'echo "$(id -un) $(pwd) $GREETING"']);
  assert.is(over.stdout, 'kiln /srv hello\n');
  const noCmd = await run(['--rm', '--entrypoint', 'pwd', 'configured']);
  assert.is(noCmd.stdout, '/srv\n', '--entrypoint drops the image CMD');
});

test('-e, --env-file, -w and -u override the image', async () => {
  const envFile = join(dir, 'env.list');
  await writeFile(envFile, '# comment\nFROM_FILE=1\nGREETING=from-file\n\n');
  const r = await run([
    '--rm',
    '-e',
    'A=b c',
    '--env-file',
    envFile,
    '-e',
    'GREETING=flag',
    '-w',
    '/made/here',
    '-u',
    'guest:staff',
    '--entrypoint',
    '',
    'configured',
    'sh',
    '-c',
    'echo "$A|$FROM_FILE|$GREETING|$(pwd)|$(id)"',
  ]);
  assert.is(r.stdout, 'b c|1|flag|/made/here|uid=1001(guest) gid=50(staff) groups=50(staff)\n');
});

test('--name, --hostname, --network none and host', async () => {
  const none = await run(['--rm', '--network', 'none', '--hostname', 'h1', 'busybox', 'sh', '-c', 'hostname; ls /sys/class/net']);
  assert.is(none.stdout, 'h1\nlo\n');
  const host = await run(['--rm', '--network', 'host', 'busybox', 'readlink', '/proc/self/ns/net']);
  const { readlink } = await import('node:fs/promises');
  assert.is(host.stdout.trim(), await readlink('/proc/self/ns/net'));
  const named = await run(['--name', 'named1', 'busybox', 'true']);
  assert.is(named.code, 0);
  const dup = await run(['--name', 'named1', 'busybox', 'true']);
  assert.is(dup.code, 4);
  assert.match(dup.stderr, /name "\/named1" is already in use/);
  assert.is((await kiln(['rm', 'named1'], { root })).code, 0);
});

test('--add-host adds /etc/hosts lines', async () => {
  const r = await run(['--rm', '--add-host', 'db.local:10.1.2.3', 'busybox', 'grep', 'db.local', '/etc/hosts']);
  assert.is(r.stdout, '10.1.2.3\tdb.local\n');
  assert.match((await run(['--rm', '--add-host', 'nocolon', 'busybox', 'true'])).stderr, /--add-host/);
});

test('--read-only, --tmpfs, --cap-add and --cap-drop', async () => {
  const ro = await run([
    '--rm',
    '--read-only',
    '--tmpfs',
    '/scratch:size=1m',
    'busybox',
    'sh',
    '-c',
    'touch /x 2>/dev/null && echo root-rw || echo root-ro; touch /scratch/y && echo tmpfs-rw; grep " /scratch " /proc/self/mounts | cut -d" " -f3',
  ]);
  assert.is(ro.stdout, 'root-ro\ntmpfs-rw\ntmpfs\n');
  const caps = await run([
    '--rm',
    '--cap-add',
    'net_admin',
    '--cap-drop',
    'CAP_CHOWN',
    'busybox',
    'sh',
    '-c',
    'grep CapEff /proc/self/status; chown 1 /tmp 2>/dev/null && echo chown-ok || echo chown-denied',
  ]);
  assert.match(caps.stdout, /CapEff:\s+00000000a80435fa/);
  assert.match(caps.stdout, /chown-denied/);
  assert.match((await run(['--rm', '--cap-add', 'CAP_FLY', 'busybox', 'true'])).stderr, /unknown capability: "CAP_FLY"/);
  await nothingLeft();
});

test('--memory, --cpus and --pids-limit set the cgroup limits', async () => {
  const r = await run([
    '--rm',
    '--memory',
    '48m',
    '--cpus',
    '1.5',
    '--pids-limit',
    '30',
    'busybox',
    'cat',
    '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
    '/sys/fs/cgroup/pids/pids.max',
  ]);
  assert.is(r.stdout, `${48 * 1024 * 1024}\n150000\n30\n`);
});

test('signals sent to kiln run reach the container, which decides the exit code', async () => {
  const { spawn } = await import('node:child_process');
  const { REPO } = await import('../../helpers/kiln-cli.js');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO, 'src/cli/dev.ts'),
      '--root',
      root,
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'trap "echo got-int; exit 9" INT; echo ready; while true; do sleep 0.1; done',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.is(code, 9);
  assert.match(out, /got-int/);
  await nothingLeft();
});

test('-it gives the container a terminal with TERM=xterm', async () => {
  const { execFile } = await import('node:child_process');
  const { REPO } = await import('../../helpers/kiln-cli.js');
  // script(1) provides the pseudo-terminal kiln's stdin/stdout would be in a shell.
  const cmd = `${process.execPath} --import tsx ${join(REPO, 'src/cli/dev.ts')} --root ${root} run --rm -it busybox sh -c 'tty; echo "term=$TERM"; exit 6'`;
  const { out, code } = await new Promise<{ out: string; code: number }>((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], { cwd: REPO }, (err, stdout) => resolve({ out: stdout, code: (err as any)?.code ?? 0 }));
  });
  assert.match(out, /\/dev\/pts\/\d+/);
  assert.match(out, /term=xterm/);
  assert.is(code, 6);
});

test('-i passes stdin to the container', async () => {
  const r = await run(['--rm', '-i', 'busybox', 'tr', 'a-z', 'A-Z'], 'piped\n');
  assert.is(r.stdout, 'PIPED\n');
});

test('a named volume keeps its files across runs; volume ls, inspect and rm manage it', async () => {
  assert.is((await kiln(['volume', 'create', 'keep'], { root })).stdout, 'keep\n');
  assert.is((await run(['--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f'])).code, 0);
  assert.is((await run(['--rm', '-v', 'keep:/data:ro', 'busybox', 'cat', '/data/f'])).stdout, 'persisted\n');
  const ro = await run(['--rm', '-v', 'keep:/data:ro', 'busybox', 'sh', '-c', 'echo x > /data/g']);
  assert.is.not(ro.code, 0, 'a :ro volume is read-only');
  assert.match((await kiln(['volume', 'ls'], { root })).stdout, /local\s+keep/);
  const info = JSON.parse((await kiln(['volume', 'inspect', 'keep'], { root })).stdout);
  assert.is(info[0].Name, 'keep');
  assert.is(await readFile(join(info[0].Mountpoint, 'f'), 'utf8'), 'persisted\n');
  // A volume used by a container cannot be removed.
  assert.is((await run(['--name', 'user1', '-v', 'keep:/data', 'busybox', 'true'])).code, 0);
  const busy = await kiln(['volume', 'rm', 'keep'], { root });
  assert.is(busy.code, 5);
  assert.match(busy.stderr, /in use/);
  await kiln(['rm', 'user1'], { root });
  assert.is((await kiln(['volume', 'rm', 'keep'], { root })).code, 0);
  assert.is((await kiln(['volume', 'inspect', 'keep'], { root })).code, 3);
});

test("a new volume starts with the image's files at its target (copy-up); a host bind does not", async () => {
  const r = await run(['--rm', '-v', 'etcvol:/etc', 'busybox', 'sh', '-c', 'cat /etc/passwd | head -1; echo added > /etc/added']);
  assert.is(r.stdout, 'root:x:0:0:root:/root:/bin/sh\n');
  const again = await run(['--rm', '-v', 'etcvol:/etc', 'busybox', 'cat', '/etc/added']);
  assert.is(again.stdout, 'added\n', 'a volume with files is not copied over again');
  const empty = join(dir, 'empty-bind');
  await mkdir(empty, { recursive: true });
  const bind = await run(['--rm', '-v', `${empty}:/etc`, 'busybox', 'ls', '/etc']);
  assert.is(bind.stdout, '');
  assert.is((await kiln(['volume', 'rm', 'etcvol'], { root })).code, 0);
});

test('a host bind mount is visible, and :ro makes it read-only', async () => {
  const src = join(dir, 'host-src');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'in'), 'from host\n');
  const r = await run(['--rm', '-v', `${src}:/mnt/src`, 'busybox', 'sh', '-c', 'cat /mnt/src/in; echo back > /mnt/src/out']);
  assert.is(r.stdout, 'from host\n');
  assert.is(await readFile(join(src, 'out'), 'utf8'), 'back\n');
  const ro = await run(['--rm', '-v', `${src}:/mnt/src:ro`, 'busybox', 'sh', '-c', 'echo x > /mnt/src/out2']);
  assert.is.not(ro.code, 0);
});

test('an image VOLUME gets an anonymous volume, removed with --rm', async () => {
  const before = (await kiln(['volume', 'ls', '-q'], { root })).stdout;
  const kept = await run(['--name', 'anon1', '--entrypoint', 'sh', 'configured', '-c', 'mount | grep -c " /data "']);
  assert.is(kept.stdout, '1\n');
  const after = (await kiln(['volume', 'ls', '-q'], { root })).stdout;
  assert.is(after.split('\n').filter(Boolean).length, before.split('\n').filter(Boolean).length + 1);
  await kiln(['rm', '-v', 'anon1'], { root });
  assert.is((await kiln(['volume', 'ls', '-q'], { root })).stdout, before);
  await run(['--rm', '--entrypoint', 'true', 'configured']);
  assert.is((await kiln(['volume', 'ls', '-q'], { root })).stdout, before);
});

test('an image of 320 layers runs (the snapshotter flattens what one overlay mount cannot hold)', async () => {
  const tar = (await import('tar-stream')).default;
  const { writeLayer } = await import('../../../src/exporter/layer-writer.js');
  const store = await openRoot(root);
  try {
    const base = await store.images.resolve('busybox');
    const layers = [...base.manifest.layers];
    const diffIds = [...base.config.rootfs.diff_ids];
    for (let i = 0; i < 320; i++) {
      const pack = tar.pack();
      pack.entry({ name: 'layers/', type: 'directory', mode: 0o755 });
      pack.entry({ name: `layers/${i}`, mode: 0o644 }, `${i}\n`);
      pack.finalize();
      const w = await writeLayer(store.content, pack as any);
      layers.push(w.descriptor);
      diffIds.push(w.diffId);
    }
    await store.images.writeImage({ config: { ...base.config, rootfs: { type: 'layers', diff_ids: diffIds } }, layers, tags: ['deep:latest'] });
  } finally {
    await store.close();
  }
  const r = await run(['--rm', 'deep', 'sh', '-c', 'ls /layers | wc -l; cat /layers/0 /layers/319']);
  assert.is(r.stdout, '320\n0\n319\n', r.stderr);
  await nothingLeft();
});

test('an image that does not exist is a clear error with nothing left behind', async () => {
  // --pull=never: by default kiln run would pull it from Docker Hub (as docker run does); tests stay on loopback.
  const r = await run(['--rm', '--pull=never', 'no-such-image:1', 'true']);
  assert.is(r.code, 3);
  assert.match(r.stderr, /error: .*no-such-image/);
  await nothingLeft();
});

test("a command not found exits 127 with Docker's message and nothing left behind", async () => {
  const r = await run(['busybox', 'no-such-command']);
  assert.is(r.code, 127);
  assert.match(r.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
  await nothingLeft();
});

test('an unknown user is a clear error with nothing left behind', async () => {
  const r = await run(['-u', 'mallory', 'busybox', 'true']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /unable to find user mallory/);
  await nothingLeft();
});

test('a bind source that does not exist is a clear error with nothing left behind', async () => {
  const r = await run(['-v', `${dir}/missing:/x`, 'busybox', 'true']);
  assert.is(r.code, 3);
  assert.match(r.stderr, /bind source path does not exist/);
  await nothingLeft();
});

test('a published port already in use is PORT_IN_USE with nothing left behind', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(18099, '127.0.0.1', () => r()));
  try {
    for (const d of [[], ['-d']]) {
      const r = await run([...d, '-p', '127.0.0.1:18099:80', 'busybox', 'true']);
      assert.is(r.code, 5, r.stderr);
      assert.match(r.stderr, /port 127\.0\.0\.1:18099 is already in use/);
      await nothingLeft();
    }
  } finally {
    blocker.close();
  }
});

test('bad flags are rejected before anything runs', async () => {
  assert.match((await run(['--network', 'weird', 'busybox', 'true'])).stderr, /network weird not found/);
  assert.match((await run(['-p', 'x:80', 'busybox', 'true'])).stderr, /invalid port mapping/);
  assert.match((await run(['--memory', 'lots', 'busybox', 'true'])).stderr, /invalid memory size/);
  assert.match((await run(['--bogus', 'busybox'])).stderr, /unknown flag: --bogus/);
  await nothingLeft();
});

test.run();

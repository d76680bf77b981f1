/**
 * Volumes through `kiln serve` with the real docker CLI: `docker volume create/ls/inspect/rm/prune`, data kept
 * across containers, an image's files copied into a new volume, `--volumes-from`, a tmpfs volume, a bind volume
 * confined to the server's --allow-bind roots, and hostile names and images that must never reach the host.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, docker, type Served } from './serve-helper.js';

let s: Served;
const work = mkdtempSync(join(tmpdir(), 'kiln-docker-volumes-'));
const allowed = join(work, 'allowed');
const outside = join(work, 'outside');
// The host directory a hostile image's /data points at: it must keep its canary and get nothing.
const canary = mkdtempSync(join(tmpdir(), 'kiln-vol-canary-'));

async function ok(args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await docker(s, args, opts);
  assert.is(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function build(tag: string, dockerfile: string): Promise<void> {
  const ctx = mkdtempSync(join(work, 'ctx-'));
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  await ok(['build', '-q', '-t', tag, '.'], { cwd: ctx });
}

test.before(async () => {
  mkdirSync(allowed);
  mkdirSync(outside);
  writeFileSync(join(canary, 'canary'), 'host\n');
  s = await startServe({ args: ['--allow-bind', allowed] });
});

test.after(async () => {
  await docker(s, ['rm', '-f', ...(await docker(s, ['ps', '-aq'])).stdout.split('\n').filter(Boolean)]).catch(() => {});
  await s?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(canary, { recursive: true, force: true });
});

test('docker volume create / inspect / ls --filter / rm, as dockerd answers them', async () => {
  assert.is(await ok(['volume', 'create', '--label', 'app=web', '--label', 'tier', 'web-data']), 'web-data\n');
  assert.is(await ok(['volume', 'create', 'db-data']), 'db-data\n');
  // Creating an existing name returns it.
  assert.is(await ok(['volume', 'create', 'db-data']), 'db-data\n');
  const anon = (await ok(['volume', 'create'])).trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  const [v] = JSON.parse(await ok(['volume', 'inspect', 'web-data']));
  assert.is(v.Name, 'web-data');
  assert.is(v.Driver, 'local');
  assert.is(v.Scope, 'local');
  assert.equal(v.Labels, { app: 'web', tier: '' });
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(v.Mountpoint, /\/volumes\/web-data\/_data$/);
  assert.is(v.UsageData, undefined);
  const ls = (f: string[]) => ok(['volume', 'ls', '-q', ...f.flatMap((x) => ['--filter', x])]).then((o) => o.split('\n').filter(Boolean).sort());
  assert.equal(await ls(['label=app=web']), ['web-data']);
  assert.equal(await ls(['label=tier']), ['web-data']);
  assert.equal(await ls(['name=data']), ['db-data', 'web-data']);
  assert.equal(await ls(['driver=local', 'name=^db-']), ['db-data']);
  assert.equal(await ls(['dangling=true', 'name=-data']), ['db-data', 'web-data']);
  const bad = await docker(s, ['volume', 'ls', '--filter', 'colour=red']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'colour'/);
  assert.is(await ok(['volume', 'rm', 'web-data', anon]), `web-data\n${anon}\n`);
  const gone = await docker(s, ['volume', 'inspect', 'web-data']);
  assert.is.not(gone.code, 0);
  assert.match(gone.stderr, /no such volume/i);
  const rmGone = await docker(s, ['volume', 'rm', 'web-data']);
  assert.is.not(rmGone.code, 0);
  assert.is((await docker(s, ['volume', 'rm', '-f', 'web-data'])).code, 0);
  const driver = await docker(s, ['volume', 'create', '--driver', 'nfs', 'x1']);
  assert.is.not(driver.code, 0);
  assert.match(driver.stderr, /"nfs" is not supported/);
  const opt = await docker(s, ['volume', 'create', '--opt', 'colour=red', 'x2']);
  assert.is.not(opt.code, 0);
  assert.match(opt.stderr, /invalid option key: "colour"/);
  await ok(['volume', 'rm', 'db-data']);
});

test('docker run -v NAME:/data keeps data across containers; rm of a volume in use (even stopped) is refused', async () => {
  await ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']);
  assert.is(await ok(['run', '--rm', '-v', 'keep:/data:ro', 'busybox', 'cat', '/data/f']), 'kept\n');
  const id = (await ok(['create', '-v', 'keep:/data', 'busybox', 'true'])).trim();
  const r = await docker(s, ['volume', 'rm', 'keep']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, new RegExp(`remove keep: volume is in use - \\[${id}\\]`));
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'dangling=false'])).trim(), 'keep');
  // docker system df -v: the volume's size and its one container.
  const df = await ok(['system', 'df', '-v', '--format', '{{range .Volumes}}{{println .Name .Links .Size}}{{end}}']);
  assert.match(df, /^keep 1 5B$/m);
  await ok(['rm', id]);
  await ok(['volume', 'rm', 'keep']);
});

test("a new volume is populated from the image's files at the mount path (owners, modes, links), not with nocopy", async () => {
  await build(
    'kiln-vol-seed',
    'FROM busybox\nRUN mkdir -p /seed/sub && echo seeded > /seed/f && chown 1000:1001 /seed/f && chmod 640 /seed/f && ln -s f /seed/link && chmod 1777 /seed\n',
  );
  const out = await ok([
    'run',
    '--rm',
    '-v',
    'seeded:/seed',
    'kiln-vol-seed',
    'sh',
    '-c',
    'cat /seed/f; stat -c "%u:%g %a" /seed/f /seed; readlink /seed/link; ls /seed',
  ]);
  assert.is(out, 'seeded\n1000:1001 640\n0:0 1777\nf\nf\nlink\nsub\n');
  // Once it has files, a volume is never populated again.
  await ok(['run', '--rm', '-v', 'seeded:/seed', 'kiln-vol-seed', 'sh', '-c', 'rm -rf /seed/*; echo mine > /seed/own']);
  assert.is(await ok(['run', '--rm', '-v', 'seeded:/seed', 'kiln-vol-seed', 'ls', '/seed']), 'own\n');
  assert.is(await ok(['run', '--rm', '--mount', 'type=volume,src=bare,dst=/seed,volume-nocopy', 'kiln-vol-seed', 'ls', '-A', '/seed']), '');
  // An image VOLUME gets an anonymous volume, populated too.
  await build('kiln-vol-imgvol', 'FROM busybox\nRUN mkdir /vol && echo inside > /vol/x\nVOLUME /vol\n');
  const cid = (await ok(['create', 'kiln-vol-imgvol', 'cat', '/vol/x'])).trim();
  await ok(['start', cid]);
  assert.is((await ok(['wait', cid])).trim(), '0');
  assert.is(await ok(['logs', cid]), 'inside\n');
  const info = JSON.parse(await ok(['inspect', cid]))[0];
  assert.ok(info, 'inspect answers');
  await ok(['rm', '-v', cid]);
  await ok(['volume', 'rm', 'seeded', 'bare']);
});

test('--volumes-from CONTAINER[:ro] mounts its volumes at the same destinations', async () => {
  await ok(['create', '--name', 'vsrc', '-v', 'shared:/shared', '-v', '/anon', 'busybox', 'true']);
  assert.is(await ok(['run', '--rm', '--volumes-from', 'vsrc', 'busybox', 'sh', '-c', 'echo hi > /shared/x; echo a > /anon/y; cat /shared/x']), 'hi\n');
  assert.is(await ok(['run', '--rm', '-v', 'shared:/s', 'busybox', 'cat', '/s/x']), 'hi\n');
  const ro = await docker(s, ['run', '--rm', '--volumes-from', 'vsrc:ro', 'busybox', 'sh', '-c', 'cat /anon/y; touch /shared/z 2>/dev/null || echo refused']);
  assert.is(ro.stdout, 'a\nrefused\n', ro.stderr);
  const missing = await docker(s, ['run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true']);
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /nosuch/);
  await ok(['rm', '-v', 'vsrc']);
  await ok(['volume', 'rm', 'shared']);
});

test('a tmpfs volume (--opt type=tmpfs,device=tmpfs,o=size=1m) is a tmpfs inside the container', async () => {
  await ok(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m', 'tv']);
  const [v] = JSON.parse(await ok(['volume', 'inspect', 'tv']));
  assert.equal(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
  await ok(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'echo one > /t/f']);
  // A tmpfs per container: the next one starts empty, and the volume's own directory got nothing.
  const out = await ok(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts; ls -A /t']);
  assert.match(out, /^tmpfs \/t tmpfs \S*size=1024k\S* 0 0\n$/);
  assert.equal(readdirSync(v.Mountpoint), []);
  const mode = await docker(s, ['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'o=mode=1777', 'tv3']);
  assert.is.not(mode.code, 0);
  assert.match(mode.stderr, /runc resets a tmpfs's mode/);
  const bad = await docker(s, ['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'o=size=huge', 'tv2']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /invalid tmpfs size "huge"/);
  await ok(['volume', 'rm', 'tv']);
});

test('a bind volume (type=none,o=bind) is allowed inside the --allow-bind roots only', async () => {
  await ok(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${allowed}`, 'bv']);
  await ok(['run', '--rm', '-v', 'bv:/b', 'busybox', 'sh', '-c', 'echo via-volume > /b/written']);
  assert.is(readFileSync(join(allowed, 'written'), 'utf8'), 'via-volume\n');
  for (const device of [outside, '/etc', `${allowed}/../outside`]) {
    const r = await docker(s, ['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${device}`, 'bad-bind']);
    assert.is.not(r.code, 0, device);
    assert.match(r.stderr, /not allowed by this server/);
  }
  const m = await docker(s, [
    'run',
    '--rm',
    '--mount',
    `type=volume,dst=/b,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=${outside}`,
    'busybox',
    'true',
  ]);
  assert.is.not(m.code, 0);
  assert.match(m.stderr, /not allowed by this server/);
  assert.equal(readdirSync(outside), []);
  assert.is((await docker(s, ['volume', 'inspect', 'bad-bind'])).code, 1);
  await ok(['volume', 'rm', 'bv']);
  assert.ok(existsSync(join(allowed, 'written')), 'removing a bind volume leaves its device');
});

test('docker volume prune: anonymous unused volumes only (API 1.45), -a all unused, label filters, in-use kept', async () => {
  await ok(['volume', 'create', 'named-unused']);
  await ok(['volume', 'create', '--label', 'keep=yes', 'named-kept']);
  const anonC = (await ok(['create', '-v', '/a', 'busybox', 'true'])).trim();
  const anonVol = JSON.parse(await ok(['inspect', anonC]))[0];
  assert.ok(anonVol);
  await ok(['rm', anonC]); // without -v: its anonymous volume stays
  await ok(['create', '--name', 'holder', '-v', 'held:/h', 'busybox', 'true']);
  const before = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean);
  const anon = before.filter((n) => /^[0-9a-f]{64}$/.test(n));
  assert.is(anon.length, 1, JSON.stringify(JSON.parse(await ok(['volume', 'inspect', ...anon]))));
  const p = await ok(['volume', 'prune', '-f']);
  assert.match(p, new RegExp(`Deleted Volumes:\\n${anon[0]}\\n`));
  assert.equal((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort(), ['held', 'named-kept', 'named-unused']);
  await ok(['volume', 'prune', '-af', '--filter', 'label!=keep=yes']);
  assert.equal((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort(), ['held', 'named-kept']);
  await ok(['volume', 'prune', '-af']);
  assert.equal((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort(), ['held']);
  // Older API versions (before 1.42) prune every unused volume; the current one only anonymous ones.
  await ok(['volume', 'create', 'old-api']);
  const api = (v: string) =>
    fetch(`http://127.0.0.1:${s.port}/${v}/volumes/prune`, { method: 'POST' }).then((r) => r.json() as Promise<{ VolumesDeleted: string[] }>);
  assert.equal((await api('v1.45')).VolumesDeleted, []);
  assert.equal((await api('v1.41')).VolumesDeleted, ['old-api']);
  const listed = (await (await fetch(`http://127.0.0.1:${s.port}/v1.45/volumes`)).json()) as { Volumes: Array<{ Name: string }>; Warnings: unknown };
  assert.equal([listed.Volumes.map((v) => v.Name), listed.Warnings], [['held'], null]);
  await ok(['rm', 'holder']);
  await ok(['volume', 'rm', 'held']);
});

test('hostile: volume names with .. or / are refused and touch nothing', async () => {
  const base = `http://127.0.0.1:${s.port}/v1.45`;
  for (const name of ['..', '../../etc', 'a/../../b', '.hidden']) {
    const r = await fetch(`${base}/volumes/create`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ Name: name }) });
    assert.is(r.status, 400, name);
    assert.match(((await r.json()) as { message: string }).message, /invalid volume name/);
  }
  for (const name of ['..', '..%2F..%2Fetc', '%2E%2E']) {
    assert.is((await fetch(`${base}/volumes/${name}`)).status, 404, name);
    assert.is((await fetch(`${base}/volumes/${name}`, { method: 'DELETE' })).status, 404, name);
  }
  const r = await docker(s, ['run', '--rm', '-v', '..:/d', 'busybox', 'true']);
  assert.is.not(r.code, 0);
  assert.ok(existsSync(join(s.root, 'volumes')), 'the volumes dir is still there');
});

test('hostile: an image whose mount path is a symlink to a host directory populates from and writes to its own rootfs', async () => {
  await build(
    'kiln-vol-evil',
    `FROM busybox\nRUN mkdir -p ${canary} && echo image > ${canary}/from-image && ln -s ${canary} /data && ln -s /etc/passwd /data2\n`,
  );
  const out = await ok(['run', '--rm', '-v', 'evil:/data', 'kiln-vol-evil', 'sh', '-c', 'ls /data; echo pwned > /data/pwned']);
  assert.is(out, 'from-image\n');
  // The host directory the link names is untouched: its canary only, as it was.
  assert.equal(readdirSync(canary), ['canary']);
  assert.is(readFileSync(join(canary, 'canary'), 'utf8'), 'host\n');
  const [v] = JSON.parse(await ok(['volume', 'inspect', 'evil']));
  assert.equal(readdirSync(v.Mountpoint).sort(), ['from-image', 'pwned']);
  // A mount path that is a link to a file: nothing is copied from the host's /etc/passwd.
  const passwd = readFileSync('/etc/passwd', 'utf8');
  await docker(s, ['run', '--rm', '-v', 'evil2:/data2', 'kiln-vol-evil', 'true']);
  assert.is(readFileSync('/etc/passwd', 'utf8'), passwd);
  const [v2] = JSON.parse(await ok(['volume', 'inspect', 'evil2']));
  assert.ok(!readdirSync(v2.Mountpoint).includes('root'), 'no host files in the volume');
  // A mount path climbing with `..` stays in the rootfs too: it names the image's directory, not the host's.
  const dots = await ok(['run', '--rm', '-v', `dots:/a/../../..${canary}`, 'kiln-vol-evil', 'sh', '-c', `ls ${canary}; echo x > ${canary}/dots`]);
  assert.is(dots, 'from-image\n');
  assert.equal(readdirSync(canary), ['canary']);
  await ok(['volume', 'rm', 'evil', 'evil2', 'dots']);
});

test.run();

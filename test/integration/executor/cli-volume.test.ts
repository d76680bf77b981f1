/** `kiln volume create/ls/inspect/rm/prune` and `kiln run --volumes-from` on a local root, with the server's rules. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';

let dir = '';
let root = '';
const k = (args: string[]) => kiln(args, { root });
const names = async (args: string[] = []) => (await k(['volume', 'ls', '-q', ...args])).stdout.split('\n').filter(Boolean).sort();

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cli-volume-'));
  root = join(dir, 'root');
  const r = await kiln(['base', 'busybox'], { root });
  assert.is(r.code, 0, r.stderr);
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('kiln volume create --opt --label, ls --filter / --format json, inspect; bad options refused', async () => {
  assert.is((await k(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m', '--label', 'a=b', 'tv'])).stdout, 'tv\n');
  assert.is((await k(['volume', 'create', '-d', 'local', 'plain'])).code, 0);
  assert.equal(await names(['--filter', 'label=a=b']), ['tv']);
  assert.equal(await names(['--filter', 'name=pla']), ['plain']);
  const json = (await k(['volume', 'ls', '--format', 'json', '--filter', 'name=tv'])).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(
    json.map((j) => [j.Name, j.Driver, j.Labels, j.Scope]),
    [['tv', 'local', 'a=b', 'local']],
  );
  const [v] = JSON.parse((await k(['volume', 'inspect', 'tv'])).stdout);
  assert.equal(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
  assert.equal(v.Labels, { a: 'b' });
  const out = await k(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'grep -c "^tmpfs /t tmpfs" /proc/mounts']);
  assert.is(out.stdout, '1\n', out.stderr);
  for (const [args, re] of [
    [['--driver', 'nfs', 'x1'], /"nfs" is not supported/],
    [['--opt', 'size=1g', 'x2'], /invalid option key: "size"/],
    [['--opt', 'type=ext4', '--opt', 'device=/dev/sda', 'x3'], /"ext4" is not supported/],
    [['../x4'], /invalid volume name/],
  ] as Array<[string[], RegExp]>) {
    const r = await k(['volume', 'create', ...args]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const badFilter = await k(['volume', 'ls', '--filter', 'colour=red']);
  assert.is.not(badFilter.code, 0);
  assert.match(badFilter.stderr, /invalid filter 'colour'/);
  assert.is((await k(['volume', 'rm', 'tv', 'plain'])).stdout, 'tv\nplain\n');
  assert.is((await k(['volume', 'rm', 'nosuch'])).code, 3);
  assert.is((await k(['volume', 'rm', '-f', 'nosuch'])).code, 0);
});

test('kiln run --volumes-from shares volumes; kiln volume prune takes unused anonymous ones, -a the named too', async () => {
  assert.is((await k(['run', '--name', 'vsrc', '-v', 'shared:/shared', '-v', '/anon', 'busybox', 'true'])).code, 0);
  const r = await k(['run', '--rm', '--volumes-from', 'vsrc:ro', 'busybox', 'sh', '-c', 'ls -d /shared /anon; touch /shared/x 2>/dev/null || echo ro']);
  assert.is(r.stdout, '/anon\n/shared\nro\n', r.stderr);
  const anon = (await names()).filter((n) => n.length === 64);
  assert.is(anon.length, 1);
  // rm -v of the source keeps an anonymous volume another container still mounts.
  assert.is((await k(['run', '--name', 'sharer', '--volumes-from', 'vsrc', 'busybox', 'true'])).code, 0);
  assert.is((await k(['rm', '-v', 'vsrc'])).code, 0);
  assert.equal(await names(), [...anon, 'shared'].sort());
  assert.is((await k(['run', '--name', 'vsrc', '-v', `${anon[0]}:/anon`, '-v', 'shared:/shared', 'busybox', 'true'])).code, 0);
  assert.is((await k(['rm', 'sharer'])).code, 0);
  // In use by vsrc (stopped): nothing pruned.
  assert.match((await k(['volume', 'prune', '-a', '-f'])).stdout, /^Total reclaimed space/);
  assert.is((await k(['rm', 'vsrc'])).code, 0);
  assert.equal(await names(), [...anon, 'shared'].sort());
  const p = await k(['volume', 'prune', '-f']);
  assert.match(p.stdout, new RegExp(`Deleted Volumes:\\n${anon[0]}\\n`));
  assert.equal(await names(), ['shared']);
  await k(['volume', 'prune', '-a', '--filter', 'label=none']);
  assert.equal(await names(), ['shared']);
  await k(['volume', 'prune', '-a']);
  assert.equal(await names(), []);
  assert.equal((await readdir(join(root, 'volumes'))).sort(), []);
});

test.run();

/** `kiln build --cache-to/--cache-from` through the CLI (and its resident builder), as a CI job runs it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../../helpers/kiln-cli.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-cache-cli-'));
});
test.after(async () => {
  for (const r of ['a', 'b']) await kiln(['daemon', 'stop'], { root: join(dir, r) }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test('a CI job: export to a cache directory on one root, import it on a fresh one; progress says which cache answered', async () => {
  const ctx = join(dir, 'ctx');
  await mkdir(ctx);
  await writeFile(
    join(ctx, 'Dockerfile'),
    'FROM busybox\nCOPY a.txt /a.txt\nRUN --mount=type=cache,target=/root/.cache sh -c "cat /a.txt > /b.txt; date > /root/.cache/stamp"\n',
  );
  await writeFile(join(ctx, 'a.txt'), 'a\n');
  const cacheDir = join(dir, 'cache');
  const [a, b] = [join(dir, 'a'), join(dir, 'b')];
  for (const r of [a, b]) assert.is((await kiln(['base', 'busybox'], { root: r })).code, 0);
  const first = await kiln(['build', '-t', 'app', '--cache-to', `type=local,dest=${cacheDir},mode=max`, ctx], { root: a });
  assert.is(first.code, 0, first.stderr);
  const meta = join(dir, 'meta.json');
  const second = await kiln(['build', '-t', 'app', '--progress', 'plain', '--metadata-file', meta, '--cache-from', `type=local,src=${cacheDir}`, ctx], {
    root: b,
  });
  assert.is(second.code, 0, second.stderr);
  assert.match(second.stderr, new RegExp(`CACHED \\(imported from ${cacheDir} \\(local\\); not in the local cache\\)`));
  assert.is(JSON.parse(await readFile(meta, 'utf8'))['kiln.steps'].executed, 0);
  // Now in root B's own cache: the next build hits locally and asks nobody.
  const third = await kiln(['build', '-t', 'app', '--progress', 'plain', ctx], { root: b });
  assert.is(third.code, 0, third.stderr);
  assert.not.match(third.stderr, /imported from/);
  assert.match(third.stderr, /CACHED/);
});

test('bad cache options: a clear error naming the option and value, exit 2, no stack trace, nothing built', async () => {
  const ctx = join(dir, 'ctx');
  for (const [flag, spec, want] of [
    ['--cache-to', 'type=registry,ref=127.0.0.1:5000/x,modes=max', /--cache-to type=registry: unknown option modes=/],
    ['--cache-to', 'type=inline,mode=max', /type=inline supports mode=min only/],
    ['--cache-from', 'type=gha', /type=gha is not supported/],
    ['--cache-to', 'type=local', /needs dest=DIR/],
  ] as const) {
    const r = await kiln(['build', flag, spec, ctx], { root: join(dir, 'a') });
    assert.is(r.code, 2, `${flag} ${spec}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.not.match(r.stderr, /\n\s+at /);
  }
});

test.run();

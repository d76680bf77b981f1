/**
 * Hostile mount points: a step that swaps a mount point's parent for a symlink to a host directory after the run
 * (BuildKit's CVE-2024-23652: the stub clean-up then deleted host directories), and an image whose `/dev` is an
 * absolute symlink to a host directory (runc < 1.3.6 then created `null`, `fd`, `ptmx`… on the host). Each test
 * plants canaries in a fresh host directory outside every root and context and checks they are untouched,
 * through the builder, `kiln run` and `kiln serve` (docker build).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHarness, type Harness } from '../builder/harness.js';
import { kiln } from '../../helpers/kiln-cli.js';
import { docker, startServe, type Served } from '../server/serve-helper.js';

let h: Harness;
let s: Served;
let host = '';

test.before(async () => {
  host = await mkdtemp(join(tmpdir(), 'kiln-hostile-mounts-'));
  h = await createHarness();
  s = await startServe();
});
test.after(async () => {
  await s?.stop();
  await h?.close();
  await rm(host, { recursive: true, force: true });
});

let n = 0;

/** A fresh host directory holding the empty directories `dirs` (relative) and a canary file; returns its path. */
async function plant(dirs: string[]): Promise<string> {
  const d = join(host, `canary-${++n}`);
  await mkdir(d);
  for (const rel of dirs) await mkdir(join(d, rel), { recursive: true });
  await writeFile(join(d, 'canary'), 'untouched\n');
  return d;
}

/** Every entry under `d` as `path:type`, sorted: what must be the same after the attack. */
async function snapshot(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(d.length + 1);
    out.push(`${p}:${e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'link' : e.isFile() ? 'file' : 'other'}`);
  }
  return out.sort();
}

async function assertUntouched(d: string, before: string[], what: string): Promise<void> {
  assert.equal(await snapshot(d), before, `${what}: the host directory ${d} changed`);
  assert.is(await readFile(join(d, 'canary'), 'utf8'), 'untouched\n', `${what}: the canary file changed`);
}

/** A RUN that swaps the mount point's top directory (`/a` for `/a/b`) for a symlink to the host directory `d`. */
function stubRun(d: string, mount: string, target: string): string {
  const top = `/${target.split('/')[1]}`;
  return `RUN --mount=${mount},target=${target} sh -c 'mv ${top} ${top}.old && ln -s ${d} ${top}'\n`;
}

function stubAttack(d: string, mount: string, target: string): string {
  return `FROM busybox\n${stubRun(d, mount, target)}`;
}

for (const mount of ['type=bind', 'type=cache,id=hostile-stub', 'type=tmpfs']) {
  for (const [target, dirs] of [
    ['/a/b', ['b']],
    ['/a/b/c', ['b/c']],
  ] as const) {
    test(`RUN --mount=${mount},target=${target} then /a -> host dir: the host's empty ${dirs[0]} survives the stub clean-up`, async () => {
      const d = await plant([...dirs]);
      const before = await snapshot(d);
      const ctx = await h.context({ Dockerfile: stubAttack(d, mount, target), 'f.txt': 'x\n' });
      await h.build(ctx, { tags: [`stub:${n}`], noCache: true });
      await assertUntouched(d, before, `${mount} ${target}`);
      // The step's own result is kept: /a is the symlink it made, /a.old its old directory.
      const tree = await h.tree(`stub:${n}`);
      assert.ok(
        tree.some((e) => e.path === 'a' && e.type === 'symlink'),
        JSON.stringify(tree),
      );
    });
  }
}

/** A context whose image has `/dev -> d` (absolute, to the host directory), built with busybox's files. */
function devLinkStages(d: string): string {
  return (
    ['FROM busybox AS src', `RUN mkdir /out && cp -a /bin /etc /out/ && ln -s ${d} /out/dev`, 'FROM scratch AS devlink', 'COPY --from=src /out/ /'].join('\n') +
    '\n'
  );
}

test('an image layer with /dev -> host dir, then RUN: runc writes nothing on the host and the step runs', async () => {
  const d = await plant([]);
  await writeFile(join(d, 'ptmx'), 'host ptmx\n');
  const before = await snapshot(d);
  const ctx = await h.context({ Dockerfile: `${devLinkStages(d)}RUN echo ran > /ran && ls /dev/null\n` });
  const r = await h.build(ctx, { tags: ['devlink:run'], noCache: true });
  await assertUntouched(d, before, 'RUN on /dev -> host');
  assert.is(await readFile(join(d, 'ptmx'), 'utf8'), 'host ptmx\n');
  assert.ok(r.stepsExecuted > 0);
  const tree = await h.tree('devlink:run');
  assert.ok(
    tree.some((e) => e.path === 'ran'),
    'the RUN step ran',
  );
});

test('kiln run of an image with /dev -> host dir writes nothing on the host', async () => {
  const d = await plant([]);
  await writeFile(join(d, 'ptmx'), 'host ptmx\n');
  const before = await snapshot(d);
  const root = join(host, 'cli-root');
  const ctx = await h.context({ Dockerfile: devLinkStages(d) });
  assert.is((await kiln(['base', 'busybox'], { root })).code, 0);
  const b = await kiln(['build', '-t', 'devlink:cli', '--progress', 'plain', ctx], { root });
  assert.is(b.code, 0, b.stderr);
  const r = await kiln(['run', '--rm', 'devlink:cli', 'sh', '-c', 'ls /dev/null && echo in-container'], { root });
  await assertUntouched(d, before, 'kiln run on /dev -> host');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /in-container/);
});

test('kiln serve: docker build of an image with /dev -> host dir, then RUN, leaves the host alone', async () => {
  const d = await plant([]);
  await writeFile(join(d, 'ptmx'), 'host ptmx\n');
  const before = await snapshot(d);
  const ctx = await h.context({ Dockerfile: `${devLinkStages(d)}RUN true\n` });
  const r = await docker(s, ['build', '-t', 'hostile:dev', '.'], { cwd: ctx });
  await assertUntouched(d, before, 'served /dev -> host');
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test('kiln serve: docker build with the bind and cache mount-stub attacks leaves the host alone', async () => {
  const bind = await plant(['b/c']);
  const bindBefore = await snapshot(bind);
  const cache = await plant(['b']);
  const cacheBefore = await snapshot(cache);
  const ctx = await h.context({
    Dockerfile: stubAttack(bind, 'type=bind', '/a/b/c') + stubRun(cache, 'type=cache,id=served', '/c/b'),
    'f.txt': 'x\n',
  });
  const r = await docker(s, ['build', '-t', 'hostile:stub', '.'], { cwd: ctx });
  await assertUntouched(bind, bindBefore, 'served bind stub');
  await assertUntouched(cache, cacheBefore, 'served cache stub');
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import type { CliIo } from '../../../src/cli/io.js';
import { main } from '../../../src/cli/main.js';
import type { BuildOptions } from '../../../src/builder/types.js';
import { cacheRegistryConfig } from '../../../src/cli/remote/commands.js';

/** A caller in `cwd` whose builds go to a fake builder that records their options. */
function caller(cwd: string): { io: CliIo; err: () => string; builds: BuildOptions[] } {
  let err = '';
  const builds: BuildOptions[] = [];
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(c: Buffer, _e, cb) {
        add(c.toString());
        cb();
      },
    });
  const builder = {
    root: { tmpDir: '/nonexistent' },
    async build(o: BuildOptions) {
      builds.push(o);
      return {
        imageId: `sha256:${'a'.repeat(64)}`,
        manifestDigest: `sha256:${'b'.repeat(64)}`,
        tags: o.tags ?? [],
        stepsExecuted: 0,
        stepsCached: 0,
        stepsShared: 0,
      };
    },
  };
  const io: CliIo = {
    stdout: sink(() => {}),
    stderr: sink((s) => (err += s)),
    env: {},
    cwd,
    interruptions: () => ({ signal: new AbortController().signal, dispose() {} }),
    builders: { acquire: async () => ({ builder: builder as never, release: async () => {} }) },
  };
  return { io, err: () => err, builds };
}

const kiln = (io: CliIo, ...args: string[]) => main(['node', 'kiln', '--root', '/nonexistent/root', ...args], io);

test("--cache-from/--cache-to (repeatable) reach the build; local paths resolve against the caller's cwd", async () => {
  const c = caller('/home/u/proj');
  const code = await kiln(
    c.io,
    'build',
    '--cache-from',
    'registry.example/app:cache',
    '--cache-from',
    'type=local,src=ci/cache',
    '--cache-to',
    'type=local,dest=out,mode=max',
    '--cache-to',
    'type=inline',
    '--progress',
    'plain',
    'ctx',
  );
  assert.is(code, 0, c.err());
  const [o] = c.builds;
  assert.is(o.contextDir, '/home/u/proj/ctx');
  assert.equal(o.cacheFrom, [
    { type: 'registry', ref: 'registry.example/app:cache' },
    { type: 'local', src: '/home/u/proj/ci/cache', tag: 'latest' },
  ]);
  assert.equal(
    o.cacheTo?.map((e) => [e.type, 'dest' in e ? e.dest : undefined, e.mode]),
    [
      ['local', '/home/u/proj/out', 'max'],
      ['inline', undefined, 'min'],
    ],
  );
});

test('without cache flags the build gets none', async () => {
  const c = caller('/w');
  assert.is(await kiln(c.io, 'build', '--progress', 'plain', '.'), 0, c.err());
  assert.is(c.builds[0].cacheFrom, undefined);
  assert.is(c.builds[0].cacheTo, undefined);
});

test('a bad cache spec is a usage error naming the flag and the value, before any build', async () => {
  for (const [flag, spec, message] of [
    ['--cache-to', 'type=registry,ref=a/b,mode=all', /--cache-to: mode=all must be min or max/],
    ['--cache-to', 'type=gha', /--cache-to: type=gha is not supported by kiln/],
    ['--cache-from', 'type=registry,ref=a/b,foo=1', /--cache-from type=registry: unknown option foo=/],
    ['--cache-to', 'registry.example/app:cache', /--cache-to "registry.example\/app:cache" needs a type/],
  ] as const) {
    const c = caller('/w');
    assert.is(await kiln(c.io, 'build', flag, spec, '.'), 2, c.err());
    assert.match(c.err(), message);
    assert.is(c.builds.length, 0);
  }
});

test('with --host, a type=local cache is refused before anything is sent', async () => {
  for (const [flag, spec] of [
    ['--cache-from', 'type=local,src=cache'],
    ['--cache-to', 'type=local,dest=cache'],
  ]) {
    const c = caller('/w');
    // Port 9 (discard) on loopback: nothing listens; a request would fail with REMOTE_FAILED, not this.
    assert.is(await kiln(c.io, '--host', 'tcp://127.0.0.1:9', 'build', flag, spec, '.'), 2, c.err());
    assert.match(c.err(), new RegExp(`${flag} ${spec}: a type=local cache cannot be used with --host`));
    assert.match(c.err(), /type=registry,ref=/);
  }
});

test('with --host, KILN_REGISTRY_USER/PASSWORD go as X-Registry-Config to the registries the cache refs name, and no others', () => {
  const env = { KILN_REGISTRY_USER: 'ci', KILN_REGISTRY_PASSWORD: 'pw' };
  const h = cacheRegistryConfig(
    ['127.0.0.1:5000/app:cache', 'type=registry,ref=team/app:cache'],
    ['type=registry,ref=r.example/app:c,mode=max', 'type=inline'],
    env,
  );
  const decoded = JSON.parse(Buffer.from(h['X-Registry-Config']!, 'base64url').toString('utf8'));
  const auth = { username: 'ci', password: 'pw' };
  assert.equal(decoded, { '127.0.0.1:5000': auth, 'docker.io': auth, 'r.example': auth });
  assert.equal(cacheRegistryConfig(['127.0.0.1:5000/app:cache'], [], {}), {}, 'no user: no header');
  assert.equal(cacheRegistryConfig([], ['type=inline'], env), {}, 'no registry cache: no header');
});

test.run();

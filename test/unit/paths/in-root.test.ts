/**
 * The one table for kiln's root-confined resolver: every rule (`..`, absolute and relative links, chains, loops,
 * dangling links, EACCES, non-directories, length limits, cancellation) checked against both drivers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_SYMLINKS, mkdirInRoot, resolveInRoot, resolveInRootSync, type InRootOptions } from '../../../src/paths/in-root.js';
import { isKilnError } from '../../../src/errors.js';

let root = '';
let outside = '';

/** What a case expects: the inner path it resolves to (and whether it exists), or an error code. */
type Expect = { inner: string | (() => string); exists: boolean } | { code: string; match?: RegExp };
interface Case {
  name: string;
  setup?: (r: string) => void;
  path: string | (() => string);
  opts?: InRootOptions;
  expect: Expect;
}

const isRoot = process.getuid?.() === 0;

const cases: Case[] = [
  { name: '.. stops at the root', path: '/../../../etc/passwd', expect: { inner: '/etc/passwd', exists: true } },
  { name: 'a relative path is relative to the root', path: 'etc/./passwd', expect: { inner: '/etc/passwd', exists: true } },
  { name: 'the root itself', path: '/', expect: { inner: '/', exists: true } },
  {
    name: 'an absolute symlink restarts at the root',
    setup: (r) => symlinkSync('/etc/passwd', join(r, 'abs')),
    path: '/abs',
    expect: { inner: '/etc/passwd', exists: true },
  },
  {
    name: 'a link to / stays in the root',
    setup: (r) => symlinkSync('/', join(r, 'toroot')),
    path: '/toroot/etc/passwd',
    expect: { inner: '/etc/passwd', exists: true },
  },
  {
    name: 'a relative symlink cannot climb out',
    setup: (r) => symlinkSync('../../../../../../etc', join(r, 'etc/up')),
    path: '/etc/up/passwd',
    expect: { inner: '/etc/passwd', exists: true },
  },
  {
    name: 'a link to the host canary dir stays inside',
    setup: (r) => symlinkSync(outside, join(r, 'host')),
    path: '/host/canary',
    expect: { inner: () => `${outside}/canary`, exists: false },
  },
  {
    name: 'a chain of 40 links resolves',
    setup: (r) => {
      for (let i = 0; i < MAX_SYMLINKS - 1; i++) symlinkSync(`l${i + 1}`, join(r, `l${i}`));
      symlinkSync('/etc', join(r, `l${MAX_SYMLINKS - 1}`));
    },
    path: '/l0/passwd',
    expect: { inner: '/etc/passwd', exists: true },
  },
  {
    name: 'the 41st link is ELOOP',
    setup: (r) => {
      for (let i = 0; i < MAX_SYMLINKS; i++) symlinkSync(`l${i + 1}`, join(r, `l${i}`));
      symlinkSync('/etc', join(r, `l${MAX_SYMLINKS}`));
    },
    path: '/l0/passwd',
    expect: { code: 'UNSAFE_PATH', match: /ELOOP/ },
  },
  {
    name: 'a loop is ELOOP, not absent',
    setup: (r) => {
      symlinkSync('b', join(r, 'a'));
      symlinkSync('a', join(r, 'b'));
    },
    path: '/a/x',
    expect: { code: 'UNSAFE_PATH', match: /too many symlinks/ },
  },
  {
    name: 'a dangling link resolves to its confined target',
    setup: (r) => symlinkSync('/nowhere/deep', join(r, 'dangle')),
    path: '/dangle/x',
    expect: { inner: '/nowhere/deep/x', exists: false },
  },
  {
    name: 'followFinal: false keeps the last link',
    setup: (r) => symlinkSync('/etc/passwd', join(r, 'abs')),
    path: '/abs',
    opts: { followFinal: false },
    expect: { inner: '/abs', exists: true },
  },
  { name: 'a file in the middle makes the rest absent (ENOTDIR)', path: '/etc/passwd/x', expect: { inner: '/etc/passwd/x', exists: false } },
  { name: 'missing tails are kept, .. applied lexically', path: '/a/b/../c', expect: { inner: '/a/c', exists: false } },
  {
    name: 'noSymlinks refuses a link on the way',
    setup: (r) => symlinkSync('/etc', join(r, 'e')),
    path: '/e/passwd',
    opts: { noSymlinks: true },
    expect: { code: 'UNSAFE_PATH', match: /symbolic link/ },
  },
  { name: 'a path of 4096 bytes is PATH_TOO_LONG', path: () => `/${'a/'.repeat(2048)}`, expect: { code: 'PATH_TOO_LONG', match: /PATH_MAX/ } },
  { name: '30,000 components is PATH_TOO_LONG', path: () => '/a'.repeat(30_000), expect: { code: 'PATH_TOO_LONG' } },
  { name: 'a component of 256 bytes is PATH_TOO_LONG', path: () => `/${'x'.repeat(256)}`, expect: { code: 'PATH_TOO_LONG', match: /NAME_MAX/ } },
  { name: 'a NUL byte is refused', path: '/etc\0/passwd', expect: { code: 'UNSAFE_PATH' } },
  {
    name: 'a link that resolves past PATH_MAX is PATH_TOO_LONG',
    setup: (r) => {
      // The request is short; the link leads to a real 3,800-byte directory chain, and one more name passes PATH_MAX.
      const chain = `/${'c'.repeat(199)}`.repeat(20);
      mkdirSync(join(r, chain), { recursive: true });
      symlinkSync(chain, join(r, 's'));
    },
    path: `/s/${'b'.repeat(250)}`,
    expect: { code: 'PATH_TOO_LONG', match: /resolves to a path longer/ },
  },
];

test.before.each(() => {
  root = mkdtempSync(join(tmpdir(), 'kiln-inroot-'));
  outside = mkdtempSync(join(tmpdir(), 'kiln-inroot-host-'));
  writeFileSync(join(outside, 'canary'), 'host');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
});
test.after.each(() => {
  for (const d of [root, outside]) {
    try {
      chmodSync(join(d, 'locked'), 0o755);
    } catch {
      /* only some cases lock it */
    }
    rmSync(d, { recursive: true, force: true });
  }
});

function check(c: Case, got: { path: string; inner: string; exists: boolean } | unknown, threw: boolean, driver: string): void {
  const label = `${c.name} (${driver})`;
  if ('code' in c.expect) {
    assert.ok(threw, `${label}: expected ${c.expect.code}, resolved instead`);
    assert.ok(isKilnError(got), `${label}: expected a KilnError, got ${(got as Error)?.stack ?? got}`);
    const e = got as { code: string; message: string };
    assert.is(e.code, c.expect.code, `${label}: ${e.message}`);
    if (c.expect.match) assert.match(e.message, c.expect.match, label);
    assert.not.match(e.message, root, `${label}: message leaks the host path`);
    return;
  }
  assert.not.ok(threw, `${label}: threw ${(got as Error)?.message}`);
  const r = got as { path: string; inner: string; exists: boolean };
  const inner = typeof c.expect.inner === 'function' ? c.expect.inner() : c.expect.inner;
  assert.is(r.inner, inner, label);
  assert.is(r.path, inner === '/' ? root : root + inner, label);
  assert.is(r.exists, c.expect.exists, label);
}

for (const c of cases) {
  test(`resolveInRoot: ${c.name}`, async () => {
    c.setup?.(root);
    const path = typeof c.path === 'function' ? c.path() : c.path;
    for (const [driver, run] of [
      ['sync', async () => resolveInRootSync(root, path, c.opts)],
      ['async', () => resolveInRoot(root, path, c.opts)],
    ] as const) {
      let got: unknown;
      let threw = false;
      try {
        const r = await run();
        got = { path: r.path, inner: r.inner, exists: r.stat !== undefined };
      } catch (err) {
        got = err;
        threw = true;
      }
      check(c, got, threw, driver);
    }
    assert.is(lstatSync(join(outside, 'canary')).size, 4, 'the host canary is untouched');
  });
}

test('resolveInRoot: EACCES on the way is an error, never "absent"', async () => {
  mkdirSync(join(root, 'locked/inner'), { recursive: true });
  writeFileSync(join(root, 'locked/inner/f'), 'x');
  chmodSync(join(root, 'locked'), 0);
  chmodSync(root, 0o755);
  if (!isRoot) {
    // Unprivileged: the kernel answers EACCES to us directly.
    for (const f of [async () => resolveInRootSync(root, '/locked/inner/f'), () => resolveInRoot(root, '/locked/inner/f')]) {
      let err: unknown;
      try {
        await f();
      } catch (e) {
        err = e;
      }
      assert.ok(isKilnError(err) && err.code === 'PRECONDITION' && /permission denied/.test(err.message), String(err));
    }
    return;
  }
  // root ignores directory permissions: ask the kernel as an unprivileged user (nobody) in a child process.
  const { spawnSync } = await import('node:child_process');
  // As an unprivileged user (nobody) when we are root, as ourselves otherwise.
  const script = `import('${new URL('../../../src/paths/in-root.ts', import.meta.url).pathname}').then(async (m) => {
    for (const f of [() => m.resolveInRootSync(${JSON.stringify(root)}, '/locked/inner/f'), () => m.resolveInRoot(${JSON.stringify(root)}, '/locked/inner/f')]) {
      try { const r = await f(); console.log('RESOLVED', r.stat !== undefined); } catch (e) { console.log('ERR', e.code, e.message); }
    }
  })`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', uid: 65534, gid: 65534, cwd: process.cwd() });
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 2, `child output: ${r.stdout} ${r.stderr}`);
  for (const l of lines) assert.match(l, /^ERR PRECONDITION .*permission denied/);
});

test('resolveInRoot: a deep legal path is cancelled by its signal', async () => {
  const ac = new AbortController();
  const path = '/d'.repeat(2000);
  let calls = 0;
  const p = mkdirInRoot(root, path, {
    signal: ac.signal,
    onCreate: () => {
      if (++calls === 50) ac.abort();
    },
  });
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(isKilnError(err) && err.code === 'CANCELLED', `expected CANCELLED, got ${String(err)}`);
  assert.ok(calls < 60, `stopped soon after the abort (${calls} directories made)`);
});

test('mkdirInRoot: creates through a dangling link inside the root, never outside', async () => {
  symlinkSync(outside + '/made', join(root, 'link'));
  const made: string[] = [];
  const r = await mkdirInRoot(root, '/link/new', {
    onCreate: (p) => {
      made.push(p);
    },
  });
  assert.is(r.inner, `${outside}/made/new`);
  assert.ok(lstatSync(join(root, outside, 'made/new')).isDirectory());
  assert.equal(
    made.map((p) => p.slice(root.length)),
    [
      ...outside
        .split('/')
        .filter(Boolean)
        .map((_, i, a) => '/' + a.slice(0, i + 1).join('/')),
      `${outside}/made`,
      `${outside}/made/new`,
    ],
  );
  assert.throws(() => lstatSync(join(outside, 'made')));
});

test('mkdirInRoot: a file in the way is a clear error', async () => {
  let err: unknown;
  try {
    await mkdirInRoot(root, '/etc/passwd/x');
  } catch (e) {
    err = e;
  }
  assert.ok(isKilnError(err) && /not a directory/.test(err.message), String(err));
});

test('resolveInRoot: the work is linear in the components (system calls counted, not timed)', async () => {
  // The async walk looks at its signal once before every system call: a signal that counts those looks counts the
  // calls. Speed itself is the benchmarks' business; here the bound is structural: a few calls per component.
  const callsFor = async (n: number): Promise<number> => {
    const path = '/d'.repeat(n);
    await mkdirInRoot(root, path);
    let looks = 0;
    const counting = {
      get aborted() {
        looks++;
        return false;
      },
      reason: undefined,
    } as unknown as AbortSignal;
    const r = await resolveInRoot(root, path, { signal: counting });
    assert.ok(r.stat?.isDirectory());
    return looks;
  };
  // (1,500, not 2,000: fs.rmSync's recursion overflows the stack cleaning up a tree 2,000 deep)
  const small = await callsFor(150);
  const large = await callsFor(1500);
  assert.ok(large <= 2 * 1500 + 5, `${large} system calls for 1,500 components`);
  assert.ok(large <= 10 * small + 10, `ten times the components, ${large / small}x the calls`);
});

test.run();

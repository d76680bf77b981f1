/**
 * Hostile build contexts: the files kiln reads from a context (Dockerfile, `<Dockerfile>.dockerignore`,
 * `.dockerignore`) are symlinks to host canaries, a `sub -> /host/dir` holds the Dockerfile named by the request,
 * a tar plants a symlink and then a directory entry of the same name, and `RUN --mount=type=bind` (no from=)
 * looks for files `.dockerignore` excludes. Locally (the builder a `kiln build` runs) and through `kiln serve` (a
 * raw POST /build with a crafted tar, as a stranger would send it). The canaries live in a fresh temp dir outside
 * every root and context; their content must appear in no output, error or stored layer, and they must be
 * untouched.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { isKilnError } from '../../../src/errors.js';
import type { BuildEvent } from '../../../src/builder/types.js';
import { createHarness, type Harness } from '../builder/harness.js';
import { startServe, type Served } from '../server/serve-helper.js';

const MARK = `CANARY-${randomBytes(6).toString('hex')}`;
let canary: string;
let h: Harness;
let s: Served;

/** Host canaries: a stand-in for /etc/passwd, a host dir with a Dockerfile, an ignore file whose text would show in an error. */
function plantCanaries(): void {
  canary = mkdtempSync(join(tmpdir(), 'kiln-canary-'));
  writeFileSync(join(canary, 'passwd'), `${MARK}-passwd:x:0:0:root:/root:/bin/sh\n`);
  mkdirSync(join(canary, 'hostdir'));
  writeFileSync(join(canary, 'hostdir', 'Dockerfile'), `FROM busybox\nRUN echo ${MARK}-hostdir > /leak\n`);
  // An invalid pattern: a .dockerignore read from the host would be quoted in the DOCKERIGNORE_INVALID error.
  writeFileSync(join(canary, 'ignore'), `[${MARK}-ignore\n`);
  mkdirSync(join(canary, 'target'), { mode: 0o755 });
  chmodSync(join(canary, 'target'), 0o755);
  utimesSync(join(canary, 'target'), new Date(1_000_000_000_000), new Date(1_000_000_000_000));
}

/** Mode, mtime and content of every canary, to compare before and after. */
function canaryState(): string {
  return JSON.stringify(
    readdirSync(canary, { recursive: true })
      .map(String)
      .sort()
      .map((p) => {
        const st = statSync(join(canary, p));
        return [p, st.mode, st.mtimeMs, st.isFile() ? readFileSync(join(canary, p), 'utf8') : ''];
      }),
  );
}

/** Files under `dir` (not following links) whose bytes hold the mark; `skip` prunes by path. */
function filesWithMark(dir: string, skip: (p: string) => boolean = () => false): string[] {
  const hits: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (!e.isFile() || skip(p)) continue;
    if (readFileSync(p).includes(MARK)) hits.push(p);
  }
  return hits;
}

test.before(async () => {
  plantCanaries();
  h = await createHarness();
  s = await startServe();
});
test.after(async () => {
  await h?.close();
  await s?.stop();
  rmSync(h?.dir ?? '/nonexistent', { recursive: true, force: true });
  if (canary) rmSync(canary, { recursive: true, force: true });
});

/** Builds locally; returns the error (or undefined) and everything the build said, as text. */
async function buildLocal(ctx: string, opts: Parameters<Harness['build']>[1] = {}): Promise<{ err?: unknown; said: string }> {
  const events: BuildEvent[] = [];
  try {
    await h.build(ctx, { compression: 'none', ...opts, onEvent: (e) => events.push(e) });
    return { said: JSON.stringify(events) };
  } catch (err) {
    return { err, said: `${JSON.stringify(events)}\n${(err as Error).message}\n${isKilnError(err) ? err.describe() : ''}\n${(err as Error).stack}` };
  }
}

test('local: a Dockerfile symlinked to a host file is not read (the canary is in no error)', async () => {
  const before = canaryState();
  const ctx = await h.context({ 'keep.txt': 'k' });
  symlinkSync(join(canary, 'passwd'), join(ctx, 'Dockerfile'));
  const r = await buildLocal(ctx, { tags: ['hostile:df'] });
  assert.ok(isKilnError(r.err) && r.err.code === 'DOCKERFILE_NOT_FOUND', r.said);
  assert.not.ok(r.said.includes(MARK), `canary leaked: ${r.said}`);
  // A relative escape is confined the same way.
  const rel = await h.context({ 'keep.txt': 'k' });
  symlinkSync(`../../../../../../../../..${join(canary, 'passwd')}`, join(rel, 'Dockerfile'));
  const r2 = await buildLocal(rel);
  assert.ok(isKilnError(r2.err) && r2.err.code === 'DOCKERFILE_NOT_FOUND', r2.said);
  assert.not.ok(r2.said.includes(MARK), `canary leaked: ${r2.said}`);
  assert.is(canaryState(), before);
});

test('local: a context Dockerfile under sub -> host dir is not built (the server names it so)', async () => {
  const ctx = await h.context({ 'keep.txt': 'k' });
  symlinkSync(join(canary, 'hostdir'), join(ctx, 'sub'));
  const r = await buildLocal(ctx, { contextDockerfile: 'sub/Dockerfile', tags: ['hostile:sub'] });
  assert.ok(isKilnError(r.err) && r.err.code === 'DOCKERFILE_NOT_FOUND', r.said);
  assert.not.ok(r.said.includes(MARK), `canary leaked: ${r.said}`);
  assert.equal(filesWithMark(h.rootDir), [], "no layer or snapshot holds the host Dockerfile's output");
});

test('local: .dockerignore and Dockerfile.dockerignore symlinked to a host file are not read', async () => {
  const before = canaryState();
  for (const name of ['.dockerignore', 'Dockerfile.dockerignore']) {
    const ctx = await h.context({ Dockerfile: 'FROM busybox\nCOPY keep.txt /keep.txt\n', 'keep.txt': 'k' });
    symlinkSync(join(canary, 'ignore'), join(ctx, name));
    const r = await buildLocal(ctx, { tags: ['hostile:ignore'] });
    assert.is(r.err, undefined, `${name}: the build must succeed without the host file's patterns: ${r.said}`);
    assert.not.ok(r.said.includes(MARK), `${name}: canary leaked: ${r.said}`);
  }
  assert.is(canaryState(), before);
});

test('local: RUN --mount=type=bind (no from=) sees the context without its .dockerignored files, ro and rw', async () => {
  const secret = `${MARK}-ignored`;
  const ctx = await h.context({
    '.dockerignore': 'secret.txt\nsecretdir\n*.key\n!keep.key\n',
    'secret.txt': secret,
    'secretdir/inner.txt': secret,
    'id.key': secret,
    'keep.key': 'kept',
    'sub/public.txt': 'public',
    Dockerfile: [
      'FROM busybox',
      // Fails the step (and the build) when an ignored file is visible; copies what it saw into the image.
      "RUN --mount=type=bind,target=/m sh -c 'ls -R /m > /ro.txt; cat /m/secret.txt /m/secretdir/inner.txt /m/id.key >> /ro.txt 2>/dev/null; test -f /m/sub/public.txt && test -f /m/keep.key && test ! -e /m/secret.txt && test ! -e /m/secretdir && test ! -e /m/id.key'",
      "RUN --mount=type=bind,target=/m,rw sh -c 'ls -R /m > /rw.txt; cat /m/secret.txt /m/secretdir/inner.txt /m/id.key >> /rw.txt 2>/dev/null; echo changed > /m/sub/public.txt && test -f /m/sub/public.txt && test ! -e /m/secret.txt && test ! -e /m/secretdir && test ! -e /m/id.key'",
      'RUN --mount=type=bind,source=sub,target=/s test -f /s/public.txt',
      '',
    ].join('\n'),
  });
  const r = await buildLocal(ctx, { tags: ['hostile:bind'] });
  assert.is(r.err, undefined, `an ignored file was visible at the bind target: ${r.said}`);
  assert.not.ok(r.said.includes(MARK), r.said);
  assert.equal(filesWithMark(h.rootDir), [], 'no layer or snapshot holds an ignored file');
  assert.is(readFileSync(join(ctx, 'sub', 'public.txt'), 'utf8'), 'public', 'a rw bind mount never writes to the context');
  const tree = await h.tree('hostile:bind');
  assert.ok(tree.some((e) => e.path === 'ro.txt') && tree.some((e) => e.path === 'rw.txt'), 'the steps ran');
});

// ---- through kiln serve: a stranger's tar ----

interface Entry {
  name: string;
  type?: 'file' | 'symlink' | 'directory';
  body?: string;
  linkname?: string;
  mode?: number;
  mtime?: Date;
}

async function craftTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    pack.entry(
      { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: e.mtime },
      type === 'file' ? (e.body ?? '') : '',
    );
  }
  pack.finalize();
  const out: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) out.push(c);
  return Buffer.concat(out);
}

function postBuild(query: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const r = http.request(
      { host: '127.0.0.1', port: s.port, method: 'POST', path: `/v1.45/build?${query}`, headers: { 'Content-Type': 'application/x-tar' } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    r.on('error', (e) => resolve({ status: -1, body: String(e) }));
    r.end(body);
  });
}

/** The server's state root without its kept contexts (which hold what the client sent). */
function serverStoreHits(): string[] {
  return filesWithMark(s.root, (p) => p.startsWith(join(s.root, 'tmp')));
}

test('serve: a Dockerfile symlinked to a host file answers "cannot locate", never the file', async () => {
  const before = canaryState();
  for (const link of [join(canary, 'passwd'), `../../../../../../../../..${join(canary, 'passwd')}`]) {
    const r = await postBuild('t=hostile-df:1', await craftTar([{ name: 'Dockerfile', type: 'symlink', linkname: link }]));
    assert.match(r.body, /Cannot locate specified Dockerfile/, r.body);
    assert.not.ok(r.body.includes(MARK), `canary leaked: ${r.body}`);
  }
  assert.is(canaryState(), before);
});

test('serve: dockerfile=sub/Dockerfile with sub -> host dir does not build the host file', async () => {
  const r = await postBuild('dockerfile=sub/Dockerfile&t=hostile-sub:1', await craftTar([{ name: 'sub', type: 'symlink', linkname: join(canary, 'hostdir') }]));
  assert.match(r.body, /Cannot locate specified Dockerfile/, r.body);
  assert.not.ok(r.body.includes(MARK), `canary leaked: ${r.body}`);
  assert.equal(serverStoreHits(), []);
  // Nor under the random name the docker CLI gives a Dockerfile from outside the context.
  const r2 = await postBuild(
    'dockerfile=.dockerfile.0123456789abcdef&t=hostile-sub:2',
    await craftTar([{ name: '.dockerfile.0123456789abcdef', type: 'symlink', linkname: join(canary, 'passwd') }]),
  );
  assert.match(r2.body, /Cannot locate specified Dockerfile/, r2.body);
  assert.not.ok(r2.body.includes(MARK), `canary leaked: ${r2.body}`);
});

test('serve: a .dockerignore symlinked to a host file is not read', async () => {
  for (const name of ['.dockerignore', 'Dockerfile.dockerignore']) {
    const r = await postBuild(
      't=hostile-ignore:1',
      await craftTar([
        { name: 'Dockerfile', body: 'FROM busybox\nCOPY keep.txt /keep.txt\n' },
        { name: 'keep.txt', body: 'k' },
        { name, type: 'symlink', linkname: join(canary, 'ignore') },
      ]),
    );
    assert.not.ok(r.body.includes(MARK), `${name}: canary leaked: ${r.body}`);
    assert.match(r.body, /Successfully built/, `${name}: ${r.body}`);
  }
});

test("serve: a tar that plants a symlink and then a directory of that name never touches the link's target", async () => {
  const before = canaryState();
  const r = await postBuild(
    't=hostile-tar:1',
    await craftTar([
      { name: 'Dockerfile', body: 'FROM busybox\nCOPY d /d\n' },
      { name: 'd', type: 'symlink', linkname: join(canary, 'target') },
      { name: 'd/', type: 'directory', mode: 0o777, mtime: new Date(1_500_000_000_000) },
      { name: 'e/', type: 'directory', mode: 0o777, mtime: new Date(1_500_000_000_000) },
      { name: 'e', type: 'symlink', linkname: join(canary, 'target') },
    ]),
  );
  assert.not.ok(r.body.includes(MARK), r.body);
  assert.is(canaryState(), before, 'the host directory kept its mode and mtime');
});

test('serve: RUN --mount=type=bind sees the context without its .dockerignored files, ro and rw', async () => {
  const secret = `${MARK}-ignored`;
  const r = await postBuild(
    't=hostile-bind:1',
    await craftTar([
      { name: '.dockerignore', body: 'secret.txt\nsecretdir\n' },
      { name: 'secret.txt', body: secret },
      { name: 'secretdir/inner.txt', body: secret },
      { name: 'public.txt', body: 'public' },
      {
        name: 'Dockerfile',
        body: [
          'FROM busybox',
          "RUN --mount=type=bind,target=/m sh -c 'ls -R /m > /ro.txt; cat /m/secret.txt >> /ro.txt 2>/dev/null; test -f /m/public.txt && test ! -e /m/secret.txt && test ! -e /m/secretdir'",
          "RUN --mount=type=bind,target=/m,rw sh -c 'ls -R /m > /rw.txt; cat /m/secret.txt >> /rw.txt 2>/dev/null; test -f /m/public.txt && test ! -e /m/secret.txt && test ! -e /m/secretdir'",
          '',
        ].join('\n'),
      },
    ]),
  );
  assert.match(r.body, /Successfully built/, `an ignored file was visible at the bind target: ${r.body}`);
  assert.not.ok(r.body.includes(MARK), r.body);
});

test.run();

/**
 * The build's `.dockerignore`: moby/patternmatcher's table (../shared/conformance/data/dockerignore/*.tsv, read at
 * test time) against the matcher builds use, ignorefile.ReadAll's line rules, which file is picked, that the
 * files are read inside their root, and the filtered context tree a RUN bind mount sees.
 */
import { existsSync, lstatSync, mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dockerignoreMatcher, dockerignorePatterns, loadDockerignore } from '../../../src/builder/dockerignore.js';
import { buildFilteredTree } from '../../../src/builder/filtered-context.js';
import { readFileInRoot } from '../../../src/builder/fileops/read-in-root.js';
import { isKilnError } from '../../../src/errors.js';
import { CONFORMANCE_DATA } from '../../helpers/shared-data.js';

const DATA = `${CONFORMANCE_DATA}/dockerignore/`;

function rows(file: string): Array<{ line: number; patterns: string[]; path: string; expected: string }> {
  const out = [];
  for (const [n, line] of readFileSync(DATA + file, 'utf8')
    .split('\n')
    .entries()) {
    if (line.startsWith('#') || line === '') continue;
    const [pat, path, expected] = line.split('\t') as [string, string, string];
    out.push({ line: n + 1, patterns: file.includes('multi') ? (JSON.parse(pat) as string[]) : [pat], path, expected });
  }
  return out;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'kiln-ignore-'));
}

for (const file of ['patternmatcher.tsv', 'patternmatcher_multi.tsv']) {
  test(`${file}: every row matches, does not match, or is rejected as patternmatcher does`, () => {
    const all = rows(file);
    assert.ok(all.length > 5);
    for (const r of all) {
      const label = `line ${r.line}: ${JSON.stringify(r.patterns)} vs ${r.path}`;
      if (r.expected === 'error') {
        try {
          dockerignoreMatcher(r.patterns);
          assert.unreachable(`${label} must be rejected`);
        } catch (err) {
          assert.ok(isKilnError(err) && err.code === 'DOCKERIGNORE_INVALID', label);
        }
        continue;
      }
      assert.is(dockerignoreMatcher(r.patterns)!.matches(r.path), r.expected === 'true', label);
    }
  });
}

test('dockerignorePatterns() drops comments and blanks, trims, cleans and strips a leading slash', () => {
  const text = '\ufeff# comment\n\n  /build/  \n!./keep/../keep/x\n./a//b/\n #not a comment\n';
  assert.equal(dockerignorePatterns(text), ['build', '!keep/x', 'a/b', '#not a comment']);
});

test('the last matching pattern wins, and exceptions re-include below an excluded directory', () => {
  const m = dockerignoreMatcher(dockerignorePatterns('node_modules\n*.log\n!important.log\ndocs\n!docs/README.md\n'))!;
  assert.ok(m.matches('node_modules/x/y.js'));
  assert.ok(m.matches('debug.log'));
  assert.not.ok(m.matches('important.log'));
  assert.ok(m.matches('docs/other.md'));
  assert.not.ok(m.matches('docs/README.md'));
  assert.not.ok(m.matches('src/main.ts'));
  assert.ok(m.hasExclusions);
  assert.not.ok(dockerignoreMatcher(['node_modules'])!.hasExclusions);
});

test('a lone ! is an invalid pattern; no patterns is no matcher', () => {
  try {
    dockerignoreMatcher(['!']);
    assert.unreachable();
  } catch (err) {
    assert.ok(isKilnError(err) && err.code === 'DOCKERIGNORE_INVALID');
  }
  assert.is(dockerignoreMatcher([]), undefined);
});

test('loadDockerignore() prefers <Dockerfile>.dockerignore beside the Dockerfile', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'ctx'));
    mkdirSync(join(dir, 'df'));
    writeFileSync(join(dir, 'ctx/.dockerignore'), 'general\n');
    const general = await loadDockerignore(join(dir, 'ctx'), { root: join(dir, 'ctx'), path: 'Dockerfile' });
    assert.ok(general!.matches('general') && !general!.matches('specific'));
    assert.ok((await loadDockerignore(join(dir, 'ctx'), { root: join(dir, 'df'), path: 'app.Dockerfile' }))!.matches('general'));
    writeFileSync(join(dir, 'df/app.Dockerfile.dockerignore'), 'specific\n');
    const specific = await loadDockerignore(join(dir, 'ctx'), { root: join(dir, 'df'), path: 'app.Dockerfile' });
    assert.ok(specific!.matches('specific') && !specific!.matches('general'));
    assert.is(await loadDockerignore(join(dir, 'df'), { root: join(dir, 'df'), path: 'Dockerfile' }), undefined, 'no file, no matcher');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a .dockerignore or Dockerfile symlinked out of the context is confined to it, never read from the host', async () => {
  const dir = tmp();
  try {
    const ctx = join(dir, 'ctx');
    mkdirSync(join(ctx, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'canary'), 'CANARY-HOST-SECRET\n');
    mkdirSync(join(dir, 'hostdir'));
    writeFileSync(join(dir, 'hostdir', 'Dockerfile'), 'CANARY-HOST-DOCKERFILE\n');
    symlinkSync(join(dir, 'canary'), join(ctx, '.dockerignore'));
    symlinkSync(join(dir, 'canary'), join(ctx, 'Dockerfile'));
    symlinkSync('../../hostdir', join(ctx, 'sub'));
    assert.is(await loadDockerignore(ctx, { root: ctx, path: 'Dockerfile' }), undefined);
    assert.is(await readFileInRoot(ctx, 'Dockerfile'), undefined);
    assert.is(await readFileInRoot(ctx, 'sub/Dockerfile'), undefined);
    // A link that stays inside is followed, as BuildKit follows it in its context snapshot.
    writeFileSync(join(ctx, 'etc', 'real'), 'inside\n');
    symlinkSync('/etc/real', join(ctx, 'inner'));
    assert.is((await readFileInRoot(ctx, 'inner'))!.toString(), 'inside\n');
    // Confined, an absolute target names the file of that path inside the context.
    mkdirSync(join(ctx, dir), { recursive: true });
    writeFileSync(join(ctx, dir, 'canary'), 'confined copy\n');
    assert.is((await readFileInRoot(ctx, 'Dockerfile'))!.toString(), 'confined copy\n');
    mkdirSync(join(ctx, 'adir'));
    await readFileInRoot(ctx, 'adir').then(
      () => assert.unreachable('a directory is not a file'),
      (err) => assert.ok(isKilnError(err) && err.code === 'INVALID_ARGUMENT'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('buildFilteredTree() leaves out ignored paths, keeps links as links, and enters an ignored dir only for a ! re-include', async () => {
  const dir = tmp();
  try {
    const ctx = join(dir, 'ctx');
    mkdirSync(join(ctx, 'src'), { recursive: true });
    mkdirSync(join(ctx, 'node_modules', 'x'), { recursive: true });
    mkdirSync(join(ctx, 'docs', 'api'), { recursive: true });
    mkdirSync(join(ctx, 'logs'), { recursive: true });
    writeFileSync(join(ctx, 'src', 'main.ts'), 'main');
    writeFileSync(join(ctx, 'secret.env'), 'SECRET');
    writeFileSync(join(ctx, 'node_modules', 'x', 'i.js'), 'dep');
    writeFileSync(join(ctx, 'docs', 'README.md'), 'readme');
    writeFileSync(join(ctx, 'docs', 'api', 'other.md'), 'other');
    writeFileSync(join(ctx, 'logs', 'a.log'), 'log');
    symlinkSync('/etc/passwd', join(ctx, 'link'));
    const m = dockerignoreMatcher(dockerignorePatterns('secret.env\nnode_modules\ndocs\n!docs/README.md\nlogs\n'))!;
    const out = await buildFilteredTree(ctx, join(dir, 'out'), m);
    assert.is(readFileSync(join(out, 'src', 'main.ts'), 'utf8'), 'main');
    assert.is(lstatSync(join(out, 'src', 'main.ts')).ino, lstatSync(join(ctx, 'src', 'main.ts')).ino, 'a hard link, not a copy');
    assert.is(readFileSync(join(out, 'docs', 'README.md'), 'utf8'), 'readme');
    assert.not.ok(existsSync(join(out, 'secret.env')));
    assert.not.ok(existsSync(join(out, 'node_modules')));
    assert.not.ok(existsSync(join(out, 'docs', 'api')), 'nothing re-included below docs/api: left out');
    assert.not.ok(existsSync(join(out, 'logs')), 'an ignored dir with nothing re-included is left out');
    assert.is(readlinkSync(join(out, 'link')), '/etc/passwd', 'recreated as the link it is, not followed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

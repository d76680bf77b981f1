/** The typed result of parseDockerfile(): instruction fields the builder and COPY/ADD code read. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../../helpers/assert.js';
import {
  heredocRunScript,
  parseDockerfile,
  parseDockerfileAll,
  parseOnbuildTriggers,
  type Instruction,
  type StageInstruction,
} from '../../../src/parser/index.js';

function only<K extends Instruction['kind']>(text: string, kind: K): Extract<StageInstruction, { kind: K }> {
  const ins = parseDockerfile('FROM base AS zero\nFROM busybox\n' + text).stages[1]!.instructions.find((i) => i.kind === kind);
  assert.ok(ins, `a ${kind}`);
  return ins as Extract<StageInstruction, { kind: K }>;
}

test('exec form decodes JSON strings exactly; invalid JSON falls back to shell form', () => {
  assert.equal(only('CMD ["echo hello world", "a\\"b"]', 'CMD').command, { form: 'exec', args: ['echo hello world', 'a"b'] });
  assert.equal(only("RUN ['single', 'quotes']", 'RUN').command, { form: 'shell', script: "['single', 'quotes']" });
  assert.equal(only('ENTRYPOINT ["a"] trailing', 'ENTRYPOINT').command, { form: 'shell', script: '["a"] trailing' });
});

test('instruction locations span continuation lines and heredoc bodies', () => {
  const df = parseDockerfile('FROM busybox\nRUN a \\\n  b\nRUN <<EOF\nx\nEOF\nCMD c\n');
  assert.equal(
    df.stages[0]!.instructions.map((i) => [i.loc.line, i.loc.endLine]),
    [
      [2, 3],
      [4, 6],
      [7, 7],
    ],
  );
  assert.equal(df.stages[0]!.loc, { file: 'Dockerfile', line: 1, endLine: 7 });
});

test('RUN heredocs keep their bodies; <<- strips tabs; quoted delimiters turn expansion off', () => {
  const run = only('RUN <<-A cat <<"B"\n\tone\n\tA\ntwo $X\nB\n', 'RUN');
  assert.equal(run.heredocs, [
    { name: 'A', content: 'one\n', expand: true, stripTabs: true },
    { name: 'B', content: 'two $X\n', expand: false, stripTabs: false },
  ]);
  assert.equal(run.command, { form: 'shell', script: 'cat <<"B"'.replace('cat', '<<-A cat') });
});

test('heredoc markers: white space after <<, $NAME kept as the name, none in exec form', () => {
  const spaced = only('RUN << EOF\necho hi\nEOF\n', 'RUN');
  assert.equal(
    spaced.heredocs.map((h) => h.name),
    ['EOF'],
  );
  assert.equal(heredocRunScript((spaced.command as { script: string }).script, spaced.heredocs, ['/bin/sh', '-c']).argv, ['/bin/sh', '-c', 'echo hi\n']);
  assert.equal(
    only('RUN <<$EOF\nx\n$EOF\n', 'RUN').heredocs.map((h) => h.name),
    ['$EOF'],
  );
  const exec = parseDockerfile('FROM busybox\nRUN ["echo", "<<EOF"]\nCMD done\n').stages[0]!.instructions;
  assert.equal(
    exec.map((i) => i.kind),
    ['RUN', 'CMD'],
    'the next line is an instruction, not a heredoc body',
  );
});

test('heredocRunScript() runs a lone heredoc as the script, a shebang one as a file, others through the shell', () => {
  const sh = ['/bin/sh', '-c'];
  const h = (content: string) => [{ name: 'EOF', content, expand: true, stripTabs: false }];
  assert.equal(heredocRunScript('<<EOF', h('echo hi\n'), sh), { argv: ['/bin/sh', '-c', 'echo hi\n'] });
  assert.equal(heredocRunScript('<<EOF', h('#!/usr/bin/env python3\nprint(1)\n'), sh), {
    argv: ['/dev/pipes/EOF'],
    file: { path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 },
  });
  assert.equal(heredocRunScript('cat <<EOF > /f', h('x\n'), sh), { argv: ['/bin/sh', '-c', 'cat <<EOF > /f\nx\nEOF'] });
  assert.equal(heredocRunScript('echo plain', [], sh), { argv: ['/bin/sh', '-c', 'echo plain'] });
});

test('COPY separates path sources from heredoc sources and keeps every flag', () => {
  const c = only('COPY --from=0 --chown=1:2 --chmod=640 --link --parents --exclude=a --exclude=b x <<EOF y /dst/\nbody\nEOF\n', 'COPY');
  assert.equal(c.sources, ['x', 'y']);
  assert.equal(c.heredocs, [{ name: 'EOF', content: 'body\n', expand: true, stripTabs: false }]);
  assert.is(c.dest, '/dst/');
  assert.equal([c.from, c.chown, c.chmod, c.link, c.parents, c.exclude], ['0', '1:2', '640', true, true, ['a', 'b']]);
  assert.equal(c.fromRef, { kind: 'stage', index: 0, raw: '0' });
});

test('ADD takes --checksum, --keep-git-dir and --unpack but not --from or --parents', () => {
  const a = only('ADD --checksum=sha256:abc --keep-git-dir --unpack=true https://x/y.tgz /d', 'ADD');
  assert.equal([a.checksum, a.keepGitDir, a.unpack, a.sources], ['sha256:abc', true, true, ['https://x/y.tgz']]);
  throwsCode(() => parseDockerfile('FROM busybox\nADD --from=x a b\n'), 'DOCKERFILE_BAD_FLAG', /Dockerfile:2: unknown flag: --from for ADD/);
  throwsCode(() => parseDockerfile('FROM busybox\nADD --parents a b\n'), 'DOCKERFILE_BAD_FLAG');
});

test('RUN --mount types get BuildKit defaults', () => {
  const r = only(
    'RUN --mount=type=cache,target=/c --mount=type=secret,id=s --mount=type=secret,target=/run/k --mount=type=ssh --mount=type=bind,source=a,target=b x',
    'RUN',
  );
  assert.equal(r.mounts, [
    { type: 'cache', target: '/c', readonly: false, id: '/c', sharing: 'shared', mode: 0o755, uid: 0, gid: 0 },
    { type: 'secret', id: 's', readonly: true, target: '/run/secrets/s', hasTarget: true, required: false, mode: 0o400, uid: 0, gid: 0 },
    { type: 'secret', id: 'k', readonly: true, target: '/run/k', hasTarget: true, required: false, mode: 0o400, uid: 0, gid: 0 },
    { type: 'ssh', id: 'default', readonly: true, target: '/run/buildkit/ssh_agent.0', required: false, mode: 0o600, uid: 0, gid: 0 },
    { type: 'bind', target: 'b', readonly: true, source: 'a' },
  ]);
});

test('HEALTHCHECK durations are nanoseconds; NONE disables the check', () => {
  const h = only('HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD ["/check"]', 'HEALTHCHECK');
  assert.equal([h.test, h.intervalNs, h.timeoutNs, h.retries, h.none], [['CMD', '/check'], 90e9, 500e6, 2, false]);
  assert.equal(only('HEALTHCHECK CMD curl -f x', 'HEALTHCHECK').test, ['CMD-SHELL', 'curl -f x']);
  assert.equal(only('HEALTHCHECK NONE', 'HEALTHCHECK').test, ['NONE']);
  throwsCode(() => parseDockerfile('FROM busybox\nHEALTHCHECK --retries=-1 CMD x\n'), 'DOCKERFILE_BAD_FLAG', /--retries cannot be negative/);
  throwsCode(() => parseDockerfile('FROM busybox\nHEALTHCHECK --interval=5 CMD x\n'), 'DOCKERFILE_BAD_FLAG', /invalid duration/);
});

test('ONBUILD keeps the trigger text and its parsed instruction', () => {
  const o = only('ONBUILD COPY --chown=1 . /app', 'ONBUILD');
  assert.is(o.expression, 'COPY --chown=1 . /app');
  assert.is(o.trigger.kind, 'COPY');
});

test('stage names are lower-cased; FROM <stage name> resolves to that stage, and only written in lower case', () => {
  const df = parseDockerfile('FROM busybox AS Base\nFROM base\n');
  assert.is(df.stages[0]!.name, 'base');
  assert.equal(df.stages[1]!.base, { kind: 'stage', index: 0 });
  assert.equal(df.stages[1]!.dependsOn, [0]);
  // Not a stage name (case differs), so an image reference, and upper case is not valid there.
  throwsCode(
    () => parseDockerfile('FROM busybox AS Base\nFROM Base\n'),
    'INVALID_REFERENCE',
    /^Dockerfile:2: invalid reference "Base": repository name must be lowercase/,
  );
});

test('--target selects a stage by name and requiredStages lists what it needs, in order', () => {
  const text = 'FROM a AS one\nFROM b AS two\nCOPY --from=one / /\nFROM c AS three\nRUN --mount=from=two,target=/t x\nFROM d AS four\n';
  assert.equal(parseDockerfile(text).requiredStages, [3]);
  const df = parseDockerfile(text, { target: 'THREE' });
  assert.is(df.targetIndex, 2);
  assert.equal(df.requiredStages, [0, 1, 2]);
});

test('the automatic platform args and meta args feed FROM; build args override defaults', () => {
  const text = 'ARG V=1\nFROM --platform=$BUILDPLATFORM img:$V-$TARGETARCH\n';
  const df = parseDockerfile(text, {
    platform: { os: 'linux', architecture: 'arm64' },
    buildPlatform: { os: 'linux', architecture: 'amd64' },
    buildArgs: { V: '2' },
  });
  assert.is(df.stages[0]!.from.image, 'img:2-arm64');
  assert.is(df.stages[0]!.platform, 'linux/amd64');
  assert.equal(
    df.metaArgs.map((m) => [m.key, m.default, m.value]),
    [['V', '1', '2']],
  );
  assert.is(df.globalArgs.TARGETPLATFORM, 'linux/arm64');
});

test('parser directives: escape, syntax and check; a directive after a comment is only a comment', () => {
  const df = parseDockerfile('# syntax=x/y\n# escape=`\n# check=skip=A,B\nFROM busybox\nRUN a `\n b\n');
  assert.equal(df.directives, { escape: '`', syntax: 'x/y', check: { skip: ['A', 'B'], error: false, raw: 'skip=A,B' } });
  assert.equal((df.stages[0]!.instructions[0] as { command: unknown }).command, { form: 'shell', script: 'a  b' });
  const late = parseDockerfile('# hello\n# escape=`\nFROM busybox\nRUN a \\\n b\n');
  assert.is(late.directives.escape, '\\');
});

test('CRLF line endings and a byte-order mark are accepted', () => {
  const df = parseDockerfile('\ufeffFROM busybox\r\nRUN echo a \\\r\n  b\r\nCOPY <<EOF /x\r\nline\r\nEOF\r\n');
  const [run, copy] = df.stages[0]!.instructions as [Extract<Instruction, { kind: 'RUN' }>, Extract<Instruction, { kind: 'COPY' }>];
  assert.equal(run.command, { form: 'shell', script: 'echo a   b' });
  assert.is(copy.heredocs[0]!.content, 'line\n');
});

test('parseDockerfileAll() reports every bad line, not only the first', () => {
  const r = parseDockerfileAll('FROM busybox\nRUNN a\nCOPY --bad x y\nEXPOSE\nRUN ok\n');
  assert.equal(
    r.errors.map((e) => e.describe()),
    [
      'Dockerfile:2: unknown instruction "RUNN" (did you mean RUN?)',
      'Dockerfile:3: unknown flag: --bad for COPY',
      'Dockerfile:4: EXPOSE requires at least one argument',
    ],
  );
  assert.is(r.result?.stages[0]!.instructions.length, 1, 'the good RUN is kept');
});

test('undeclared build args are reported as unused, predefined proxy args are not', () => {
  const df = parseDockerfile('FROM busybox\nARG USED\n', { buildArgs: { USED: '1', EXTRA: '2', HTTP_PROXY: 'http://p' } });
  assert.equal(
    df.warnings.filter((w) => w.rule === 'UnusedBuildArgs').map((w) => w.message),
    ['One or more build-args [EXTRA] were not consumed'],
  );
});

test("parseOnbuildTriggers() turns a base image's OnBuild list into located instructions", () => {
  const df = parseDockerfile('FROM busybox AS build\nFROM onbuild-image\n');
  const out = parseOnbuildTriggers(['RUN echo hi', 'COPY --from=build /a /b', 'COPY <<EOF /f\nbody\nEOF'], { file: 'Dockerfile', line: 2, stages: df.stages });
  assert.equal(
    out.map((i) => [i.kind, i.loc.line]),
    [
      ['RUN', 2],
      ['COPY', 2],
      ['COPY', 2],
    ],
  );
  assert.equal((out[1] as Extract<Instruction, { kind: 'COPY' }>).fromRef, { kind: 'stage', index: 0, raw: 'build' });
  assert.is((out[2] as Extract<Instruction, { kind: 'COPY' }>).heredocs[0]!.content, 'body\n');
  throwsCode(
    () => parseOnbuildTriggers(['FROM x'], { file: 'Dockerfile', line: 2 }),
    'DOCKERFILE_BAD_ARGS',
    /^Dockerfile:2: ONBUILD trigger "FROM x": FROM isn't allowed/,
  );
  throwsCode(() => parseOnbuildTriggers(['RUN a\nRUN b'], { file: 'Dockerfile', line: 2 }), 'DOCKERFILE_SYNTAX', /single expression/);
});

test('a --from name one typo away from a stage warns that it will be pulled as an image', () => {
  const df = parseDockerfile('FROM busybox AS builder\nFROM scratch\nCOPY --from=buidler /a /b\n');
  assert.equal(
    df.warnings.filter((w) => w.rule === 'UnknownStageReference').map((w) => [w.loc?.line, w.message]),
    [[3, '"buidler" is not a stage of this Dockerfile and will be used as an image (did you mean builder?)']],
  );
});

test.run();

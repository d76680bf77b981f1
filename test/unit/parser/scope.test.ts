/** Dispatch-time variables: createStageScope() + expandInstruction(), as the builder drives them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../../helpers/assert.js';
import {
  createStageScope,
  DEFAULT_PATH,
  expandInstruction,
  parseDockerfile,
  type Instruction,
  type ParsedDockerfile,
  type StageScope,
} from '../../../src/parser/index.js';

/** Runs every instruction of stage `index` through expand + dispatch, like the builder; returns the expanded list. */
function dispatchStage(df: ParsedDockerfile, index: number, scope: StageScope): Instruction[] {
  return df.stages[index]!.instructions.map((raw) => {
    const ins = expandInstruction(raw, scope);
    scope.dispatch(ins);
    return ins;
  });
}

function scopeFor(df: ParsedDockerfile, baseEnv: string[] = []): StageScope {
  return createStageScope({ globalArgs: df.globalArgs, buildArgs: df.buildArgs, baseEnv, escape: df.directives.escape });
}

test("the base image's ENV takes part in expansion; PATH is added when the base has none", () => {
  const df = parseDockerfile('FROM img\nWORKDIR $HOME/app\nENV PATH=/opt/bin:$PATH\n');
  const scope = scopeFor(df, ['HOME=/root']);
  const [wd] = dispatchStage(df, 0, scope);
  assert.is((wd as { path: string }).path, '/root/app');
  assert.equal(scope.imageEnv(), ['HOME=/root', `PATH=/opt/bin:${DEFAULT_PATH}`]);
});

test('ARG values reach RUN but not the image config; ENV after ARG of the same name wins', () => {
  const df = parseDockerfile('FROM img\nARG A=1\nARG B=2\nENV B=env\n');
  const scope = scopeFor(df, ['PATH=/bin']);
  dispatchStage(df, 0, scope);
  assert.equal(scope.runEnv(), ['PATH=/bin', 'A=1', 'B=env']);
  assert.equal(scope.imageEnv(), ['PATH=/bin', 'B=env']);
  assert.equal(scope.declaredArgs(), [
    { key: 'A', value: '1' },
    { key: 'B', value: '2' },
  ]);
});

test('a meta arg reaches a stage only through ARG NAME; --build-arg beats a default', () => {
  const df = parseDockerfile('ARG V=meta\nARG W=meta\nFROM img\nRUN x\nLABEL before=${V:-unset}\nARG V\nARG W=stage\nLABEL v=$V w=$W\n', {
    buildArgs: { W: 'cli' },
  });
  const out = dispatchStage(df, 0, scopeFor(df));
  const labels = out.filter((i) => i.kind === 'LABEL').map((i) => (i as { labels: unknown }).labels);
  assert.equal(labels, [
    [{ key: 'before', value: 'unset' }],
    [
      { key: 'v', value: 'meta' },
      { key: 'w', value: 'cli' },
    ],
  ]);
});

test('ARG defaults see ARGs declared earlier on the same line; ENV values see the env before the line', () => {
  const df = parseDockerfile('FROM img\nARG A=1 B=${A}2\nENV C=3 D=${C}4\n');
  const [arg, env] = dispatchStage(df, 0, scopeFor(df));
  assert.equal((arg as { args: unknown }).args, [
    { key: 'A', value: '1' },
    { key: 'B', value: '12' },
  ]);
  assert.equal((env as { vars: unknown }).vars, [
    { key: 'C', value: '3' },
    { key: 'D', value: '4' },
  ]);
});

test('automatic platform args need a declaration inside a stage', () => {
  const df = parseDockerfile('FROM img\nLABEL a=${TARGETARCH:-none}\nARG TARGETARCH\nLABEL b=$TARGETARCH\n', {
    platform: { os: 'linux', architecture: 's390x' },
  });
  const labels = dispatchStage(df, 0, scopeFor(df))
    .filter((i) => i.kind === 'LABEL')
    .map((i) => (i as { labels: Array<{ value: string }> }).labels[0]!.value);
  assert.equal(labels, ['none', 's390x']);
});

test('RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK text is never expanded (the shell does that)', () => {
  const df = parseDockerfile('FROM img\nENV X=1\nRUN echo $X\nCMD echo $X\nENTRYPOINT ["echo", "$X"]\nHEALTHCHECK CMD test $X\nSHELL ["sh", "-c$X"]\n');
  const out = dispatchStage(df, 0, scopeFor(df));
  assert.equal(out.slice(1), df.stages[0]!.instructions.slice(1));
});

test('COPY/ADD words and --chown expand, --chmod and --exclude do not (as BuildKit); unquoted heredoc bodies expand with quotes kept', () => {
  const df = parseDockerfile(
    'FROM img\nARG U=7\nCOPY --chown=$U:$U --chmod=u+x,go-w --exclude=*.$U src/$U /dst/$U\nCOPY <<A <<\'B\' /d/\nu="$U" \\$U\nA\nraw $U\nB\n',
  );
  const [, copy, doc] = dispatchStage(df, 0, scopeFor(df)) as [unknown, Extract<Instruction, { kind: 'COPY' }>, Extract<Instruction, { kind: 'COPY' }>];
  assert.equal([copy.chown, copy.chmod, copy.exclude, copy.sources, copy.dest], ['7:7', 'u+x,go-w', ['*.$U'], ['src/7'], '/dst/7']);
  assert.equal(
    doc.heredocs.map((h) => h.content),
    ['u="7" $U\n', 'raw $U\n'],
  );
});

test('RUN --mount options are expanded at dispatch and re-validated', () => {
  const df = parseDockerfile('FROM img\nARG ID=cache1 UID=1000\nRUN --mount=type=cache,id=$ID,target=/c,uid=$UID x\n');
  const run = dispatchStage(df, 0, scopeFor(df))[1] as Extract<Instruction, { kind: 'RUN' }>;
  assert.equal(run.mounts[0], { type: 'cache', target: '/c', readonly: false, id: 'cache1', sharing: 'shared', mode: 0o755, uid: 1000, gid: 0 });
  const bad = parseDockerfile('FROM img\nARG UID=abc\nRUN --mount=type=cache,target=/c,uid=$UID x\n');
  throwsCode(() => dispatchStage(bad, 0, scopeFor(bad)), 'DOCKERFILE_BAD_FLAG', /Dockerfile:3: invalid value abc for uid/);
});

test('a stage FROM another stage continues its env and declared args via child()', () => {
  const df = parseDockerfile('FROM img AS a\nARG A=1\nENV E=2\nFROM a\nRUN x\n');
  const parent = scopeFor(df);
  dispatchStage(df, 0, parent);
  const child = parent.child();
  assert.equal(child.runEnv(), parent.runEnv());
  assert.equal(child.declaredArgs(), [{ key: 'A', value: '1' }]);
  child.dispatchEnv({ kind: 'ENV', loc: { file: 'D', line: 1, endLine: 1 }, original: '', vars: [{ key: 'N', value: 'n' }] });
  assert.not.ok(parent.runEnv().includes('N=n'), 'the parent is not changed');
});

test('proxy build args are offered to RUN without a declaration and kept apart from the env', () => {
  const df = parseDockerfile('FROM img\n', { buildArgs: { https_proxy: 'http://p:3128', NO_PROXY: 'x', OTHER: '1' } });
  const scope = scopeFor(df);
  assert.equal(scope.proxyEnv(), { NO_PROXY: 'x', https_proxy: 'http://p:3128' });
  assert.not.ok(scope.runEnv().some((e) => e.startsWith('https_proxy=')));
});

test('expansion failures carry the instruction line', () => {
  const df = parseDockerfile('FROM img\n\nWORKDIR ${DIR:?DIR must be set}\n');
  throwsCode(() => dispatchStage(df, 0, scopeFor(df)), 'EXPANSION_FAILED', /^Dockerfile:3: failed to process .*DIR: DIR must be set/);
});

test('COPY sources keep glob escapes through expansion (they are patterns); the destination is a plain word', () => {
  const df = parseDockerfile('FROM img\nENV D=app\nCOPY ./$D/n\\?pe/f.txt ./[[]x]/* /$D\\x/\n');
  const [, copy] = dispatchStage(df, 0, scopeFor(df));
  assert.equal((copy as { sources: string[] }).sources, ['./app/n\\?pe/f.txt', './[[]x]/*']);
  assert.is((copy as { dest: string }).dest, '/appx/');
});

test.run();

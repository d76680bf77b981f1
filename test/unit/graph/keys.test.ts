/**
 * Key stability: what a person changes about how a Dockerfile is written (comments, blank lines, line numbers,
 * spacing between an instruction's words and flags, flag order, continuation lines, keyword case, stage names)
 * leaves every step key and op digest unchanged; what changes what a step does (its command, an argument, an
 * ENV/ARG value, a file's content or mode, --chown) changes exactly that step's key and the keys after it.
 * Addresses of --add-host never count, their names do. No root needed.
 */
import { rm } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { extraHostNames } from '../../../src/graph/ops.js';
import { graphOf, stepKeys, writeContext, type ContextFiles, type StepKey } from './solve-keys.js';

const DF = `FROM busybox AS builder
ARG MODE=release
ENV APP=/app LEVEL=1
WORKDIR /app
COPY --chown=1:1 --chmod=644 src/ ./src/
ADD conf.txt /etc/conf.txt
LABEL a=b
RUN echo "$MODE" > mode.txt
USER 1000

FROM builder AS final
COPY --from=builder /app/mode.txt /out/
RUN cat /out/mode.txt
`;

const STEPS = ['WORKDIR', 'COPY src', 'ADD conf', 'RUN echo', 'COPY --from', 'RUN cat'];

const FILES: ContextFiles = { 'src/a.txt': 'a\n', 'src/b.txt': 'b\n', 'conf.txt': 'conf\n' };

const dirs: string[] = [];
async function keysOf(df: string, files: ContextFiles = FILES, opts: Parameters<typeof stepKeys>[2] = {}): Promise<StepKey[]> {
  const dir = await writeContext(files);
  dirs.push(dir);
  return stepKeys(df, dir, opts);
}

let base: StepKey[];
test.before(async () => {
  base = await keysOf(DF);
});
test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Names of the steps whose key differs between `a` and `b` (same number of steps). */
function changed(a: StepKey[], b: StepKey[]): string[] {
  assert.is(b.length, a.length);
  return a.flatMap((s, i) => (s.key !== b[i]!.key ? [STEPS[i]!] : []));
}

test('the fixture has the six filesystem steps the tests name', () => {
  assert.is(base.length, STEPS.length);
  assert.is(new Set(base.map((s) => s.key)).size, STEPS.length);
});

const same: Record<string, string> = {
  'comments, blank lines and moved lines': `# a comment\n\n${DF.replace('ARG MODE', '# why\n\nARG MODE').replace('RUN echo', '\n\n# build it\nRUN echo').replace('FROM builder AS final', '# final\n\n\nFROM builder AS final')}`,
  'spacing between words and flags': DF.replace('COPY --chown=1:1 --chmod=644 src/ ./src/', 'COPY   --chown=1:1    --chmod=644\tsrc/     ./src/   ')
    .replace('ADD conf.txt /etc/conf.txt', 'ADD    conf.txt      /etc/conf.txt')
    .replace('ENV APP=/app LEVEL=1', 'ENV   APP=/app     LEVEL=1')
    .replace('WORKDIR /app', 'WORKDIR      /app')
    .replace('LABEL a=b', 'LABEL    a=b')
    .replace('ARG MODE=release', 'ARG    MODE=release')
    .replace('USER 1000', 'USER    1000')
    .replace('COPY --from=builder /app/mode.txt /out/', 'COPY  --from=builder   /app/mode.txt  /out/'),
  'continuation lines': DF.replace('COPY --chown=1:1 --chmod=644 src/ ./src/', 'COPY --chown=1:1 \\\n    --chmod=644 \\\n    src/ ./src/').replace(
    'ENV APP=/app LEVEL=1',
    'ENV APP=/app \\\n  LEVEL=1',
  ),
  'flag order and keyword case': DF.replace('COPY --chown=1:1 --chmod=644 src/', 'copy --chmod=644 --chown=1:1 src/')
    .replace('WORKDIR /app', 'workdir /app')
    .replace('ADD conf', 'add conf'),
  'a renamed stage': DF.replace(/builder/g, 'compile'),
  'a changed LABEL (metadata, no filesystem step reads it)': DF.replace('LABEL a=b', 'LABEL a=c'),
};

for (const [what, df] of Object.entries(same)) {
  test(`${what} leave every key and op digest unchanged`, async () => {
    const k = await keysOf(df);
    assert.equal(changed(base, k), []);
    assert.equal(
      k.map((s) => s.digest),
      base.map((s) => s.digest),
    );
  });
}

test('the same files in another context directory give the same keys', async () => {
  assert.equal(changed(base, await keysOf(DF, { ...FILES })), []);
});

test('a changed RUN command changes its key and those after it, as in BuildKit (its text is its definition)', async () => {
  assert.equal(changed(base, await keysOf(DF.replace('RUN echo "$MODE" > mode.txt', 'RUN echo "$MODE"  > mode.txt'))), ['RUN echo', 'COPY --from', 'RUN cat']);
  assert.equal(changed(base, await keysOf(DF.replace('RUN cat /out/mode.txt', 'RUN cat /out/mode.txt /dev/null'))), ['RUN cat']);
});

test('a changed ARG value (default or --build-arg) changes the RUN that sees it, not the steps before', async () => {
  assert.equal(changed(base, await keysOf(DF, FILES, { buildArgs: { MODE: 'debug' } })), ['RUN echo', 'COPY --from', 'RUN cat']);
  assert.equal(changed(base, await keysOf(DF.replace('MODE=release', 'MODE=debug'))), ['RUN echo', 'COPY --from', 'RUN cat']);
});

test('a changed ENV value changes the RUN steps, not WORKDIR, COPY or ADD', async () => {
  assert.equal(changed(base, await keysOf(DF.replace('LEVEL=1', 'LEVEL=2'))), ['RUN echo', 'COPY --from', 'RUN cat']);
});

test('a changed argument of WORKDIR, COPY or ADD changes that step and the ones after', async () => {
  assert.equal(changed(base, await keysOf(DF.replace('WORKDIR /app', 'WORKDIR /srv'))), STEPS);
  assert.equal(changed(base, await keysOf(DF.replace('--chown=1:1', '--chown=2:2'))), STEPS.slice(1));
  assert.equal(changed(base, await keysOf(DF.replace('--chmod=644', '--chmod=600'))), STEPS.slice(1));
  assert.equal(changed(base, await keysOf(DF.replace('/etc/conf.txt', '/etc/conf2.txt'))), STEPS.slice(2));
});

test('a changed file content or mode changes exactly the step that reads it and those after', async () => {
  assert.equal(changed(base, await keysOf(DF, { ...FILES, 'src/b.txt': 'b2\n' })), STEPS.slice(1));
  assert.equal(changed(base, await keysOf(DF, { ...FILES, 'conf.txt': { content: 'conf\n', mode: 0o755 } })), STEPS.slice(2));
  // A file no step reads changes nothing.
  assert.equal(changed(base, await keysOf(DF, { ...FILES, 'unused.txt': 'x\n' })), []);
});

test('--add-host addresses never reach a key; host names do', async () => {
  const a = await keysOf(DF, FILES, { extraHosts: ['10.0.0.1 db'] });
  const b = await keysOf(DF, FILES, { extraHosts: ['192.168.9.9 db'] });
  const c = await keysOf(DF, FILES, { extraHosts: ['10.0.0.1 cache'] });
  assert.equal(changed(a, b), []);
  assert.equal(changed(a, c), ['RUN echo', 'COPY --from', 'RUN cat']);
  assert.equal(extraHostNames(['10.0.0.1 db db.local', 'db:10.0.0.1', 'db=::1', 'db:::1']), ['db db.local', 'db', 'db', 'db']);
});

test('no op definition of a graph holds instruction text, a line number or a stage name', () => {
  const g = graphOf(DF.replace(/builder/g, 'zzstagename'));
  for (const op of g.ops) {
    const def = JSON.stringify(op.def);
    assert.not.match(def, /zzstagename/, `${op.id}: ${def}`);
    assert.not.ok('text' in op.def || 'original' in op.def || 'loc' in op.def, `${op.id}: ${def}`);
  }
});

test.run();
